"""The gate on CTranslate2, paced (shipped) against unpaced (before), same run, same questions.

``python -m bench gate_pacing`` answers each demo question under the gate twice, in process,
with the default model on CTranslate2: once as shipped (two replicas sharing the weights, the
answer's decoding paced by the gate's reading, ``workers.inference.ct2_pacing``) and once as it
was before (one replica, decoding unpaced, so a judge call waits for the whole reply). The order
alternates per question (AB, BA, ...) so that drift on a shared machine falls on both alike.
Per question it records the time to the first released sentence and to the end of the gated
answer, and whether both released the same text (they must: greedy decoding, same weights).
Retrieval runs once per question, outside the timing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.common import (
    BENCH_DB,
    Progress,
    Table,
    percentile,
    run_info,
    setup_django,
    write_results,
)
from workers.inference.ct2_pacing import ReadPacer

PACED, UNPACED = "paced, 2 replicas (shipped)", "unpaced, 1 replica (before)"
UNBOUNDED = 1 << 30


@contextmanager
def _unpaced() -> Iterator[None]:
    from workers.inference import generator_ct2

    saved = vars(generator_ct2)["ReadPacer"]
    # A window no reply reaches: decoding never waits for the reader, as before.
    setattr(generator_ct2, "ReadPacer", lambda: ReadPacer(ahead=UNBOUNDED))  # noqa: B010
    try:
        yield
    finally:
        setattr(generator_ct2, "ReadPacer", saved)  # noqa: B010


def _load(folder: str, replicas: int) -> Any:
    from workers.inference import generator_ct2

    saved = generator_ct2.REPLICAS
    generator_ct2.REPLICAS = replicas
    try:
        return generator_ct2.CT2Generator(folder, device="cpu")
    finally:
        generator_ct2.REPLICAS = saved


def _timed(retrieval: Any, generator: Any) -> dict[str, Any]:
    from django.conf import settings

    from chatapp.assistant.stages.answering import gated_reply

    started = time.perf_counter()
    first: list[float] = []

    def seen(_: str) -> None:
        if not first:
            first.append(time.perf_counter() - started)

    result = gated_reply(
        retrieval,
        generator=generator,
        judge=generator,
        critique=None,
        per_part=settings.CHATAPP_ANSWER_PER_PART,
        evidence_first=settings.CHATAPP_ANSWER_EVIDENCE_FIRST,
        on_release=seen,
    )
    return {
        "first_s": first[0] if first else None,
        "total_s": time.perf_counter() - started,
        "released": result.released,
        "sentences": len(result.checks),
        "refused": result.blocked is not None,
    }


def run(quick: bool = False) -> dict[str, Any]:
    from bench.answers import _sets as answer_sets
    from bench.corpus import eval_set_kb_ensure
    from bench.machine import cpu_features

    setup_django(BENCH_DB)
    from django.conf import settings

    from chatapp.assistant.stages.retrieval import retrieve
    from chatapp.knowledge.embedding import embedder as load_embedder
    from workers.inference.convert_ct2 import ct2_folder_for
    from workers.messages import TurnRequest

    embedder = load_embedder()
    folder = os.environ.get("CHATAPP_BENCH_CT2") or str(
        ct2_folder_for(settings.CHATAPP_MODELS_DIR / "qwen2.5-coder-1.5b-instruct")
    )
    generators = {PACED: _load(folder, 2), UNPACED: _load(folder, 1)}
    # CHATAPP_BENCH_PACING_SET=two-part: the two-part questions of bench answers (longer answers,
    # one part after the other), on the same demo knowledge base.
    which = os.environ.get("CHATAPP_BENCH_PACING_SET", "demo")
    found = {name: (eval_set, items) for name, eval_set, items in answer_sets(False)}
    eval_set, items = found[which]
    kb, _ = eval_set_kb_ensure(eval_set, embedder)
    questions = [q["question"] for q in items]
    if quick:
        questions = questions[:4]
    rows: list[dict[str, Any]] = []
    progress = Progress("gate pacing", len(questions), "questions")
    for i, question in enumerate(questions):
        request = TurnRequest(
            run_id=1,
            conversation_id="bench",
            message_id=1,
            question=question,
            knowledge_base_ids=[kb],
        )
        retrieval = retrieve(request, embedder=embedder)
        if retrieval.nothing_relevant or retrieval.clarify:
            progress.advance(note="no passages")
            continue
        order = [PACED, UNPACED] if i % 2 == 0 else [UNPACED, PACED]
        row: dict[str, Any] = {"question": question}
        for name in order:
            if name == UNPACED:
                with _unpaced():
                    row[name] = _timed(retrieval, generators[name])
            else:
                row[name] = _timed(retrieval, generators[name])
        row["same_text"] = row[PACED]["released"] == row[UNPACED]["released"]
        rows.append(row)
        progress.advance(note=question[:30])
    summary = []
    for name in (PACED, UNPACED):
        firsts = [r[name]["first_s"] for r in rows if r[name]["first_s"] is not None]
        totals = [r[name]["total_s"] for r in rows]
        summary.append(
            [
                name,
                len(rows),
                len(firsts),
                percentile(firsts, 50),
                percentile(firsts, 95),
                percentile(totals, 50),
                percentile(totals, 95),
            ]
        )
    both = [r for r in rows if r[PACED]["first_s"] and r[UNPACED]["first_s"]]
    ratios = sorted(r[PACED]["first_s"] / r[UNPACED]["first_s"] for r in both)
    multi = [r for r in both if r[PACED]["sentences"] > 1]
    multi_ratios = sorted(r[PACED]["first_s"] / r[UNPACED]["first_s"] for r in multi)
    total_ratios = sorted(r[PACED]["total_s"] / r[UNPACED]["total_s"] for r in rows)
    data = {
        **run_info(),
        "cpu": cpu_features(),
        "ct2_folder": folder,
        "rows": rows,
        "same_text": sum(r["same_text"] for r in rows),
        "set": which,
    }
    table = Table(
        f"The gate on CTranslate2 ({which} questions): first released sentence and whole gated "
        "answer, in process",
        [
            "decoding",
            "questions",
            "with a released sentence",
            "first released p50 s",
            "p95",
            "gated answer p50 s",
            "p95",
        ],
        summary,
        note=(
            f"Same run, order alternating per question. Released text identical on "
            f"{data['same_text']} of {len(rows)}. Per question, paced / unpaced: first released "
            f"sentence median ratio {percentile(ratios, 50):.2f} over {len(ratios)} questions "
            f"({percentile(multi_ratios, 50) if multi_ratios else float('nan'):.2f} over the "
            f"{len(multi_ratios)} with more than one sentence judged); whole gated answer "
            f"median ratio {percentile(total_ratios, 50):.2f}. CPU: " + json.dumps(data["cpu"])
        ),
    )
    name = "gate-pacing" + ("" if which == "demo" else f"-{which}") + ("-quick" if quick else "")
    write_results(name, data, [table])
    return data
