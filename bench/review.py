"""The reviewer on fixed drafts: which gate setting keeps wrong answers from visitors.

The answerer writes each question's draft once, without review (cached under
``var/bench/drafts/``); every gate setting then reads the same drafts sentence by sentence, the
way the live gate does (released until the first refused sentence). So settings are compared
on identical text, and a sweep costs judge calls only. What this leaves out: the rewrite after a
refused first sentence (``bench answers`` runs the whole path, rewrites included).

Sets: the demo help centre split into a tune third and a held-out third (``demo_split``), and
every set under bench/data/sets, all held out (written after the defaults were chosen).

Per set, split and setting: of the answerable questions, how many the bot answers and how many
of those are right (every expected fact in the text the visitor sees); of the out-of-scope
ones, how many it hands off. ``draft`` is the answerer alone (no review), the ceiling for what
a gate can keep.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from bench.answers import is_right
from bench.common import BENCH_DB, REPO_ROOT, Progress, Table, run_info, setup_django, write_results

DRAFTS_DIR = REPO_ROOT / "var" / "bench" / "drafts"
QUICK_PER_SET = 6


@dataclass(frozen=True)
class Setting:
    name: str
    review: bool
    grounding: bool = True
    threshold: float = 0.5
    lexical: tuple[float, float] | None = None
    # Contextual calibration of the judge (``CalibratedJudge``): how much of the claim's
    # P(Yes) without the passage is taken out; None: the judge as is.
    calibration: float | None = None
    # With calibration: also require the uncalibrated P(Yes) to reach the threshold.
    keep_raw: bool = False


def settings_to_compare(default_threshold: float, quick: bool) -> list[Setting]:
    base = [
        Setting("draft (no review)", review=False),
        Setting(f"judge >= {default_threshold}", True, False, default_threshold),
        Setting(
            f"judge >= {default_threshold} + grounding (default)", True, True, default_threshold
        ),
    ]
    if quick:
        return base
    calibrated = [
        Setting(
            f"judge calibrated (beta {beta}){' and raw' if raw else ''} >= {default_threshold}"
            " + grounding",
            True,
            True,
            default_threshold,
            calibration=beta,
            keep_raw=raw,
        )
        for beta, raw in ((1.0, False), (0.5, False), (1.0, True))
    ]
    return (
        base
        + calibrated
        + [
            Setting(f"judge >= {t} + grounding", True, True, t)
            for t in (0.4, 0.6, 0.7)
            if t != default_threshold
        ]
        + [
            Setting(
                f"judge >= {default_threshold} + grounding, >= {floor} when {cover:.0%} "
                "of the words are in the passage",
                True,
                True,
                default_threshold,
                (cover, floor),
            )
            for cover in (0.8, 1.0)
            for floor in (0.3, 0.4)
        ]
    )


class CachedJudge:
    """The judge with its answers remembered, since settings re-ask the same checks."""

    def __init__(self, judge: Any) -> None:
        self.judge = judge
        self.cache: dict[str, float] = {}
        self.calls = 0

    def yes_probability(self, messages: list[dict[str, str]]) -> float:
        key = json.dumps(messages, sort_keys=True)
        if key not in self.cache:
            self.calls += 1
            self.cache[key] = self.judge.yes_probability(messages)
        return self.cache[key]


_PASSAGE = re.compile(r"^Passage:\n.*?\n\nClaim: ", re.DOTALL)
NO_PASSAGE = "Passage:\n(no passage)\n\nClaim: "


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


class CalibratedJudge:
    """The judge's P(Yes) with the claim's own plausibility taken out (contextual calibration).

    A small model says Yes to claims that sound right whatever the passage says ("Switzerland
    is in the Europe roaming zone"). The same question without the passage measures that
    prior; the support is ``sigmoid(logit P(Yes | passage) - beta * logit P(Yes | none))``, and
    with ``keep_raw`` no more than the uncalibrated P(Yes). One more, short, judge call a claim.
    """

    def __init__(self, judge: Any, beta: float, keep_raw: bool) -> None:
        self.judge = judge
        self.beta = beta
        self.keep_raw = keep_raw

    def yes_probability(self, messages: list[dict[str, str]]) -> float:
        raw = float(self.judge.yes_probability(messages))
        content = messages[-1]["content"]
        if not _PASSAGE.match(content):
            return raw
        bare = [*messages[:-1], {**messages[-1], "content": _PASSAGE.sub(NO_PASSAGE, content)}]
        prior = float(self.judge.yes_probability(bare))
        calibrated = 1 / (1 + math.exp(-(_logit(raw) - self.beta * _logit(prior))))
        return min(raw, calibrated) if self.keep_raw else calibrated


def _draft(generator: Any, question: str, passages: list[Any], max_tokens: int) -> str:
    from workers.inference.answerer import stream_answer

    key = hashlib.sha256(
        json.dumps(
            [getattr(generator, "name", ""), question, [(p.ref, p.title, p.text) for p in passages]]
        ).encode()
    ).hexdigest()[:24]
    path = DRAFTS_DIR / f"{key}.txt"
    if path.is_file():
        return path.read_text()
    text = "".join(stream_answer(generator, question, passages, max_new_tokens=max_tokens)).strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def _gate(
    draft: str, question: str, passages: list[Any], judge: Any, setting: Setting
) -> tuple[bool, str]:
    """(answered, released text) of one draft under one setting."""
    from workers.inference.answerer import split_sentences
    from workers.inference.gate import SentenceGate
    from workers.inference.grounding import asks_for_figure

    if not setting.review:
        return bool(draft), draft
    if setting.calibration is not None:
        judge = CalibratedJudge(judge, setting.calibration, setting.keep_raw)
    gate = SentenceGate(
        judge,
        question,
        passages,
        threshold=setting.threshold,
        needs_figure=asks_for_figure(question),
        grounding=setting.grounding,
        lexical=setting.lexical,
    )
    released: list[str] = []
    claims = 0
    for sentence in split_sentences(draft):
        check = gate.check(sentence)
        if not check.approved:
            return False, " ".join(released)
        released.append(sentence)
        claims += int(check.claim)
    return claims > 0, " ".join(released)


def run(quick: bool = False) -> dict[str, Any]:
    from bench.corpus import eval_set_kb_ensure, eval_sets
    from bench.machine import cpu_features

    setup_django(BENCH_DB)
    from django.conf import settings

    from chatapp.assistant.stages.common import model_passages
    from chatapp.assistant.stages.retrieval import retrieve
    from chatapp.knowledge.embedding import embedder as load_embedder
    from workers.inference.registry import get_generator
    from workers.messages import TurnRequest

    embedder = load_embedder()
    import os

    # Another model folder or OpenAI-compatible endpoint is measured the same way.
    generator = get_generator(os.environ.get("CHATAPP_BENCH_LLM") or settings.CHATAPP_LLM_MODEL)
    judge = CachedJudge(generator)
    compare = settings_to_compare(settings.CHATAPP_REVIEW_THRESHOLD, quick)
    sets = eval_sets()
    data: dict[str, Any] = {
        **run_info(),
        "cpu": cpu_features(),
        "model": getattr(generator, "name", ""),
        "budget_words": settings.CHATAPP_CONTEXT_BUDGET_WORDS,
    }
    total = sum(min(len(s.questions), QUICK_PER_SET) if quick else len(s.questions) for s in sets)
    progress = Progress("review", total, "questions")
    rows: list[list[Any]] = []
    for eval_set in sets:
        kb, _ = eval_set_kb_ensure(eval_set, embedder)
        questions = list(eval_set.questions)[:QUICK_PER_SET] if quick else list(eval_set.questions)
        results: dict[str, list[dict[str, Any]]] = {s.name: [] for s in compare}
        for item in questions:
            request = TurnRequest(
                run_id=1,
                conversation_id="bench",
                message_id=1,
                question=item["question"],
                knowledge_base_ids=[kb],
            )
            retrieval = retrieve(request, embedder=embedder)
            skipped = retrieval.nothing_relevant or bool(retrieval.clarify)
            passages = [] if skipped else model_passages(retrieval.passages)
            draft = (
                ""
                if skipped
                else _draft(
                    generator, item["question"], passages, settings.CHATAPP_ANSWER_MAX_TOKENS
                )
            )
            for setting in compare:
                answered, shown = (
                    (False, "")
                    if skipped
                    else _gate(draft, item["question"], passages, judge, setting)
                )
                results[setting.name].append(
                    {
                        "question": item["question"],
                        "kind": item["kind"],
                        "split": item["split"],
                        "answered": answered,
                        "right": answered and is_right(shown, item.get("answer_contains", [])),
                        "shown": shown,
                        "draft": draft,
                    }
                )
            progress.advance(note=eval_set.name)
        data[eval_set.name] = results
        rows.extend(
            _row(eval_set.name, split, setting.name, results[setting.name], split)
            for split in sorted({q["split"] for q in questions})
            for setting in compare
        )
    data["judge_calls"] = judge.calls
    table = Table(
        f"The reviewer on fixed drafts ({data['model']}, "
        f"context budget {data['budget_words']} words)",
        [
            "set",
            "split",
            "setting",
            "answered (answerable)",
            "answered precision",
            "answer rate",
            "handed off (out of scope)",
        ],
        rows,
        note=(
            "Right = every expected fact of the question in the text the visitor sees. Drafts are "
            "the same for every setting; no rewrites. CPU: " + json.dumps(data["cpu"])
        ),
    )
    write_results("review-quick" if quick else "review", data, [table])
    return data


def _row(
    name: str, split: str, setting: str, outcomes: list[dict[str, Any]], want: str
) -> list[Any]:
    mine = [o for o in outcomes if o["split"] == want]
    answerable = [o for o in mine if o["kind"] == "answerable"]
    other = [o for o in mine if o["kind"] != "answerable"]
    answered = [o for o in answerable if o["answered"]]
    right = [o for o in answered if o["right"]]
    handed = [o for o in other if not o["answered"]]
    return [
        name,
        split,
        setting,
        f"{len(answered)}/{len(answerable)}",
        len(right) / len(answered) if answered else float("nan"),
        len(answered) / len(answerable) if answerable else float("nan"),
        f"{len(handed)}/{len(other)}" if other else "-",
    ]
