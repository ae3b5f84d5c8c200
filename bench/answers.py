"""Answer quality and speed of the answer path, in process: real search, real models.

Sets (``bench.corpus.eval_sets``), each indexed as a knowledge base of its own:
- ``demo``: the demo help centre, 32 answerable questions with the facts a right answer holds and
  8 out of scope; reported as its tune and held-out splits.
- ``two-part``: pairs of answerable demo questions asked as one ("... and ..."), 12 of them:
  right only when both facts are there.
- every set under bench/data/sets (Northwind telecom, Ledgerly SaaS docs): 36 answerable and 12
  out of scope each, written after the defaults were chosen, all held out.

Conditions, each on the same questions in one run:
- ``gate`` (the default): sentences reach the visitor only once the reviewer approved them,
  passages cut to the context budget; a refused first sentence gets one rewrite.
- ``gate, whole passages``: the same without the context budget.
- ``gate, no hold``: the gate without holding back a bare yes/no (or a lead-in) until a fact
  follows: what that rule changes, on the same questions.
- ``gate, evidence first``: the gate, the answer written in two steps: the passage sentences
  that answer the question are picked first (one batched yes/no call), then the answer is
  written from them only (``CHATAPP_ANSWER_EVIDENCE_FIRST``; ``gate, direct`` is the other way
  round when that setting is on).
- ``gate, worked example``: the gate, with one worked example of a good answer (another
  company's passages, question and answer) at the end of the system prompt, which CTranslate2
  keeps computed between turns: does a demonstration make the small model's drafts better?
- ``no review``: the raw draft is what the visitor sees (the answer path before the gate); on
  the demo sets only (``bench review`` compares review on and off on every set, on fixed drafts).

Per condition: of the answerable questions, how many the bot answers itself, and of those how
many are right (every expected fact in the visible text); of the unanswerable, how many it
hands off; time to the first visible sentence and to the end of the answer.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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

QUICK_QUESTIONS = 8
PAIRS = 12
_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2011": "-"})  # en, em, nb hyphen


@dataclass
class Outcome:
    """One question under one condition."""

    question: str
    kind: str
    split: str
    answered: bool
    right: bool
    first_visible_s: float | None
    total_s: float
    reason: str
    text: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 1


def _normal(text: str) -> str:
    return " ".join(_MARKERS.sub("", text).translate(_DASHES).lower().split())


def is_right(text: str, expected: list[str]) -> bool:
    """Every expected fact appears in the text (markers, case and dashes aside)."""
    answer = _normal(text)
    return bool(expected) and all(_normal(fact) in answer for fact in expected)


def _sets(quick: bool) -> list[tuple[str, Any, list[dict[str, Any]]]]:
    """(name, eval set, questions) to run; the two-part set reuses the demo's knowledge base."""
    from bench.corpus import eval_sets

    found = eval_sets()
    demo_set = found[0]
    demo = [dict(q) for q in demo_set.questions]
    answerable = [q for q in demo if q["kind"] == "answerable"]
    rng = random.Random(6)  # fixed: the same pairs every run
    pairs = []
    for first, second in zip(
        rng.sample(answerable, PAIRS), rng.sample(answerable, PAIRS), strict=True
    ):
        if first["question"] == second["question"]:
            continue
        pairs.append(
            {
                "question": f"{first['question'].rstrip('?. ')} and {second['question']}",
                "answer_contains": first["answer_contains"] + second["answer_contains"],
                "kind": "answerable",
                "split": "tune" if "tune" in (first["split"], second["split"]) else "held-out",
            }
        )
    out = [("demo", demo_set, demo), ("two-part", demo_set, pairs)]
    out += [(s.name, s, [dict(q) for q in s.questions]) for s in found[1:]]
    if quick:
        return [
            (
                name,
                eval_set,
                items[: QUICK_QUESTIONS - 2] + [q for q in items if q["kind"] != "answerable"][:2],
            )
            for name, eval_set, items in out
            if name == "demo"
        ] + [(name, eval_set, items[:2]) for name, eval_set, items in out if name == "two-part"]
    return out


def sample(items: list[dict[str, Any]], answerable: int) -> list[dict[str, Any]]:
    """A fixed sample: ``answerable`` answerable questions and a third as many others.

    Chosen by a hash of the question, not by position (a set's file is ordered by page).
    """

    def key(item: dict[str, Any]) -> bytes:
        return hashlib.sha256(item["question"].encode()).digest()

    ranked = sorted(items, key=key)
    chosen = [q for q in ranked if q["kind"] == "answerable"][:answerable]
    chosen += [q for q in ranked if q["kind"] != "answerable"][: max(1, answerable // 3)]
    return [q for q in items if q in chosen]


def _one(
    item: dict[str, Any],
    kb: int,
    *,
    embedder: Any,
    generator: Any,
    gate: bool,
    budget: int,
    per_part: bool = True,
    evidence_first: bool = False,
) -> Outcome:
    from django.conf import settings

    from chatapp.assistant.stages.answering import gated_reply
    from chatapp.assistant.stages.common import model_passages
    from chatapp.assistant.stages.retrieval import retrieve
    from workers.inference.answerer import stream_answer
    from workers.messages import TurnRequest

    settings.CHATAPP_CONTEXT_BUDGET_WORDS = budget
    started = time.perf_counter()
    request = TurnRequest(
        run_id=1,
        conversation_id="bench",
        message_id=1,
        question=item["question"],
        knowledge_base_ids=[kb],
    )
    retrieval = retrieve(request, embedder=embedder)
    expected = item.get("answer_contains", [])
    if retrieval.nothing_relevant or retrieval.clarify:
        reason = "clarify" if retrieval.clarify else "no_relevant_passages"
        return Outcome(
            item["question"],
            item["kind"],
            item.get("split", "held-out"),
            False,
            False,
            None,
            time.perf_counter() - started,
            reason,
        )
    passages = model_passages(retrieval.passages)
    first: list[float] = []

    def seen(_: str) -> None:
        if not first:
            first.append(time.perf_counter() - started)

    if not gate:
        text = ""
        for delta in stream_answer(
            generator, item["question"], passages, max_new_tokens=settings.CHATAPP_ANSWER_MAX_TOKENS
        ):
            seen(delta)
            text += delta
        text = text.strip()
        answered = bool(text)
        return Outcome(
            item["question"],
            item["kind"],
            item.get("split", "held-out"),
            answered,
            answered and is_right(text, expected),
            first[0] if first else None,
            time.perf_counter() - started,
            "",
            text,
        )
    critique = None
    for attempt in range(settings.CHATAPP_MAX_REVISIONS + 1):
        result = gated_reply(
            retrieval,
            generator=generator,
            judge=generator,
            critique=critique,
            per_part=per_part,
            evidence_first=evidence_first,
            on_release=seen,
        )
        shown = any(c.claim and c.approved for c in result.checks)
        retry = result.blocked is not None and not result.blocked.policy and not shown
        if not retry or attempt == settings.CHATAPP_MAX_REVISIONS:
            break
        critique = result.critique()
    answered = result.blocked is None and bool(result.claims)
    reason = result.reason or ("" if answered else "no_claims")
    return Outcome(
        item["question"],
        item["kind"],
        item.get("split", "held-out"),
        answered,
        answered and is_right(result.released, expected),
        first[0] if first else None,
        time.perf_counter() - started,
        reason,
        result.released,
        [
            {
                "sentence": c.sentence,
                "support": round(c.support, 3),
                "approved": c.approved,
                "policy": c.policy,
                "grounding": c.grounding,  # why a judged sentence was refused or held back
            }
            for c in result.checks
        ],
        [
            {
                "ref": e.ref,
                "sentence": e.sentence,
                "support": e.support,
                "chosen": e in result.evidence,
            }
            for e in result.candidates
        ],
        attempt + 1,
    )


def _row(name: str, split: str, condition: str, outcomes: list[Outcome]) -> list[Any]:
    answerable = [o for o in outcomes if o.kind == "answerable"]
    out_of_scope = [o for o in outcomes if o.kind != "answerable"]
    answered = [o for o in answerable if o.answered]
    right = [o for o in answered if o.right]
    handed = [o for o in out_of_scope if not o.answered]
    firsts = [o.first_visible_s for o in outcomes if o.first_visible_s is not None]
    totals = [o.total_s for o in outcomes if o.answered]
    return [
        name,
        split,
        condition,
        len(outcomes),
        f"{len(answered)}/{len(answerable)}",
        len(right) / len(answered) if answered else float("nan"),
        len(answered) / len(answerable) if answerable else float("nan"),
        f"{len(handed)}/{len(out_of_scope)}" if out_of_scope else "-",
        percentile(firsts, 50),
        percentile(firsts, 95),
        percentile(totals, 50),
        percentile(totals, 95),
    ]


ONE_PROMPT = "gate, all parts in one prompt"
PER_PART = "gate, each part on its own"
EVIDENCE_FIRST = "gate, evidence first"
# The gate without holding a bare yes/no or a lead-in (workers.inference.gate): an ablation.
NO_HOLD = "gate, no hold"
DIRECT = "gate, direct"
WORKED_EXAMPLE = "gate, worked example"
# Another company's, so that no eval set's facts are in it; it shows what the drafts most
# often miss: the figure first, its condition kept, a citation after each sentence.
EXAMPLE_TEXT = (
    "\n\nAn example of a good answer, for another company:\n"
    "<passages>\n[1] Returns and refunds\nUnused bikes can be returned within 30 days of "
    "delivery. Once the bike reaches our workshop, the refund is sent to your original payment "
    "method within 5 business days.\n\n[2] Delivery\nBikes are delivered in 2 to 4 business "
    "days.\n</passages>\n<question>\nif i send the bike back when do i get my money\n"
    "</question>\nAnswer: The refund is sent to your original payment method within 5 business "
    "days after the bike reaches our workshop [1]. This applies to unused bikes returned within "
    "30 days of delivery [1]."
)


@contextmanager
def _example(on: bool) -> Iterator[None]:
    """The answerer's system prompt with the worked example appended (on), or as shipped."""
    from workers.inference import answerer

    if not on:
        yield
        return
    saved = answerer.SYSTEM_PROMPT
    answerer.SYSTEM_PROMPT = saved + EXAMPLE_TEXT
    try:
        yield
    finally:
        answerer.SYSTEM_PROMPT = saved


@contextmanager
def _hold(on: bool) -> Iterator[None]:
    """The gate as shipped (on), or with nothing held back (off), for the ablation."""
    from workers.inference import gate as gate_module

    if on:
        yield
        return
    saved = gate_module.bare_answer, gate_module.is_lead_in
    gate_module.bare_answer = lambda text, question: False
    gate_module.is_lead_in = lambda sentence: False
    try:
        yield
    finally:
        gate_module.bare_answer, gate_module.is_lead_in = saved


def _conditions(name: str, budget: int) -> list[tuple[str, bool, int]]:
    """The conditions to run on one set.

    ``CHATAPP_BENCH_CONDITIONS="gate"`` keeps only those named (``;``-separated), for a run on a
    busy machine.
    """
    import os

    from django.conf import settings

    # The way of answering one-part questions that is not the default's, on the same questions.
    other_way = DIRECT if settings.CHATAPP_ANSWER_EVIDENCE_FIRST else EVIDENCE_FIRST
    gate = [
        ("gate", True, budget),
        (NO_HOLD, True, budget),
        (other_way, True, budget),
        ("gate, whole passages", True, 0),
        (WORKED_EXAMPLE, True, budget),
    ]
    conditions = [*gate, ("no review", False, budget)] if name in ("demo", "two-part") else gate
    if name == "two-part":  # the other way to answer several parts than the default's
        other = ONE_PROMPT if settings.CHATAPP_ANSWER_PER_PART else PER_PART
        conditions.insert(1, (other, True, budget))
    wanted = os.environ.get("CHATAPP_BENCH_CONDITIONS")  # e.g. "gate;gate, evidence first"
    if wanted:
        names = {part.strip() for part in wanted.split(";")}
        conditions = [c for c in conditions if c[0] in names]
    return conditions


def run(quick: bool = False) -> dict[str, Any]:
    import os

    from bench.corpus import eval_set_kb_ensure
    from bench.machine import cpu_features

    setup_django(BENCH_DB)
    from django.conf import settings

    from chatapp.knowledge.embedding import embedder as load_embedder
    from workers.inference.registry import get_generator

    embedder = load_embedder()
    spec = os.environ.get("CHATAPP_BENCH_LLM") or (
        str(settings.CHATAPP_MODELS_DIR / "smollm2-135m-instruct")
        if quick
        else settings.CHATAPP_LLM_MODEL
    )
    generator = get_generator(spec)
    budget = settings.CHATAPP_CONTEXT_BUDGET_WORDS
    sets = _sets(quick)
    only = os.environ.get("CHATAPP_BENCH_SETS", "")  # e.g. "two-part;northwind"
    if only:
        sets = [entry for entry in sets if entry[0] in {n.strip() for n in only.split(";")}]
    limit = int(os.environ.get("CHATAPP_BENCH_LIMIT", "0") or 0)
    if limit:  # a sample of each set, for a run on a busy machine
        sets = [(name, eval_set, sample(items, limit)) for name, eval_set, items in sets]
    rows: list[list[Any]] = []
    data: dict[str, Any] = {
        **run_info(),
        "cpu": cpu_features(),
        "model": getattr(generator, "name", spec),
    }
    total = sum(len(items) * len(_conditions(name, budget)) for name, _, items in sets)
    progress = Progress("answers", total, "answers")
    for name, eval_set, items in sets:
        kb, _ = eval_set_kb_ensure(eval_set, embedder)
        for condition, gate, words in _conditions(name, budget):
            outcomes = []
            for item in items:
                with _hold(condition != NO_HOLD), _example(condition == WORKED_EXAMPLE):
                    outcome = _one(
                        item,
                        kb,
                        embedder=embedder,
                        generator=generator,
                        gate=gate,
                        budget=words,
                        per_part=condition == PER_PART
                        or (condition != ONE_PROMPT and settings.CHATAPP_ANSWER_PER_PART),
                        evidence_first=condition == EVIDENCE_FIRST
                        or (condition != DIRECT and settings.CHATAPP_ANSWER_EVIDENCE_FIRST),
                    )
                outcomes.append(outcome)
                progress.advance(note=f"{name}/{condition}")
            rows.extend(
                _row(name, split, condition, [o for o in outcomes if o.split == split])
                for split in sorted({o.split for o in outcomes})
            )
            data.setdefault(name, {})[condition] = [o.__dict__ for o in outcomes]
    settings.CHATAPP_CONTEXT_BUDGET_WORDS = budget
    table = Table(
        f"Answer quality and speed ({data['model']}, {data['device']})",
        [
            "set",
            "split",
            "condition",
            "questions",
            "answered (answerable)",
            "answered precision",
            "answer rate",
            "handed off (unanswerable)",
            "first visible p50 s",
            "p95",
            "answer p50 s",
            "p95",
        ],
        rows,
        note=(
            "Right = every expected fact of the question in the text the visitor sees. Answered = "
            "ended as an answer (not handed off, not a clarifying question). Tune: the demo "
            "questions the defaults were chosen on; held-out: never used to choose. CPU: "
            + json.dumps(data["cpu"])
        ),
    )
    name = "answers-quick" if quick else "answers"
    if only:  # a partial run does not replace the full table
        name += "-" + "-".join(sorted(entry[0] for entry in sets))
    if limit:
        name += f"-sample{limit}"
    write_results(name, data, [table])
    return data
