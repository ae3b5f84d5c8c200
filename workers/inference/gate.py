"""The reviewer as a gate: every sentence the answerer writes is checked before a visitor sees it.

The answerer streams; as soon as a sentence is complete (the next one has started, or the reply
ended) the reviewer checks it: the policy (no requests for secrets, no promises or contacts the
passages do not hold, no obeyed injections), the figures (every number must be in the passages),
then the judge's P(Yes) that the passages state it. An approved sentence is released at once; the
first refused one stops the answer there. Staff can watch the raw draft as it is written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workers.inference.answerer import (
    STOP_STRINGS,
    build_answer_messages,
    split_sentences,
    strip_markers,
)
from workers.inference.base import Generator, Passage
from workers.inference.policy import policy_violation
from workers.inference.reviewer import (
    check_messages,
    claim_passages,
    is_trivial,
    passages_with,
    unsupported_numbers,
)

__all__ = [
    "REASON_POLICY",
    "REASON_UNSUPPORTED",
    "GatedAnswer",
    "SentenceCheck",
    "SentenceGate",
    "critique_for",
    "gated_answer",
]

REASON_UNSUPPORTED = "unsupported"
REASON_POLICY = "policy"
# A tail that is only a (partial) citation marker still belongs to the sentence before it.
_MARKER_TAIL = re.compile(r"^\[[\d,\s]*\]?$")

Callback = Callable[[str], None]


@dataclass(frozen=True)
class SentenceCheck:
    """The reviewer's verdict on one sentence of a draft, made before the visitor saw it.

    Attributes:
        sentence: The sentence as written (citation markers included).
        claim: False only for a bare pleasantry ("Happy to help!") that states nothing.
        support: The judge's P(Yes) in [0, 1]; 1.0 for a pleasantry; 0.0 when a figure or the
            policy failed (the judge is then not asked).
        refs: The passages the sentence was checked against.
        unsupported_numbers: Figures of the sentence found in none of those passages.
        policy: "" or the policy code that refused it (``workers.inference.policy``).
        approved: Whether it was released to the visitor.
        ms: Time the check took.
    """

    sentence: str
    claim: bool
    support: float
    refs: tuple[int, ...]
    unsupported_numbers: tuple[str, ...]
    policy: str
    approved: bool
    ms: int


@dataclass(frozen=True)
class GatedAnswer:
    """A draft written under the gate.

    Attributes:
        draft: Everything the answerer wrote, up to the first refused sentence included.
        released: The approved sentences, as the visitor saw them.
        checks: One check per sentence, in order.
        blocked: The first refused sentence's check (the answer stopped there), or None.
        tokens: How many deltas the answerer produced.
    """

    draft: str
    released: str
    checks: tuple[SentenceCheck, ...]
    blocked: SentenceCheck | None
    tokens: int

    @property
    def claims(self) -> tuple[SentenceCheck, ...]:
        """The checks of sentences that state something."""
        return tuple(check for check in self.checks if check.claim)

    @property
    def confidence(self) -> float:
        """The lowest support of a claim; 0.0 for a draft that claims nothing."""
        return min((check.support for check in self.claims), default=0.0)

    @property
    def reason(self) -> str:
        """Why the answer stopped: ``REASON_POLICY``, ``REASON_UNSUPPORTED`` or ""."""
        if self.blocked is None:
            return ""
        return REASON_POLICY if self.blocked.policy else REASON_UNSUPPORTED

    def critique(self) -> str:
        """What the answerer should fix in a rewrite ("" when nothing was refused)."""
        check = self.blocked
        if check is None:
            return ""
        return critique_for(
            check.sentence, policy=check.policy, unsupported_numbers=check.unsupported_numbers
        )


def critique_for(sentence: str, *, policy: str, unsupported_numbers: Sequence[str]) -> str:
    """The critique of one refused sentence, for the answerer's rewrite and the trace.

    Args:
        sentence: The refused sentence.
        policy: The policy code that refused it, or "".
        unsupported_numbers: Its figures that no passage holds.

    Returns:
        One line quoting the sentence and saying what is wrong with it.
    """
    text = strip_markers(sentence)
    if policy:
        return f'- "{text}": this must not be said to a customer ({policy}).'
    if unsupported_numbers:
        numbers = ", ".join(unsupported_numbers)
        return (
            f'- "{text}": the passages do not contain {numbers}. Use only the figures the '
            "passages give."
        )
    return (
        f'- "{text}": the passages do not say this. Remove it or say only what the passages state.'
    )


class SentenceGate:
    """Checks sentences of one draft against its passages, one at a time.

    Args:
        judge: The reviewer LLM (``yes_probability``); None checks policy and figures only.
        question: The visitor's question (figures in it count as given).
        passages: The passages the answerer was shown.
        threshold: Claims whose support is below it are refused.
    """

    def __init__(
        self,
        judge: Generator | None,
        question: str,
        passages: Sequence[Passage],
        *,
        threshold: float,
    ) -> None:
        self.judge = judge
        self.question = question
        self.passages = list(passages)
        self.threshold = threshold

    def check(self, sentence: str) -> SentenceCheck:
        """Decides whether one sentence may reach the visitor.

        Args:
            sentence: A complete sentence of the draft, markers included.

        Returns:
            The check; ``approved`` tells whether to release it.

        Raises:
            ModelError: The judge failed.
        """
        started = time.perf_counter()
        policy = policy_violation(sentence, passages=self.passages, question=self.question) or ""
        claim = not is_trivial(sentence)
        refs: tuple[int, ...] = ()
        missing: tuple[str, ...] = ()
        if policy:
            support = 0.0
        elif not claim:
            support = 1.0
        else:
            chosen = claim_passages(sentence, self.passages)
            sources = [self.question, *(f"{p.title} {p.text}" for p in chosen)]
            missing = unsupported_numbers(sentence, sources)
            if missing:  # a figure from another passage is a citation slip: check against it too
                chosen = chosen + passages_with(missing, self.passages, exclude=chosen)
                sources = [self.question, *(f"{p.title} {p.text}" for p in chosen)]
                missing = unsupported_numbers(sentence, sources)
            refs = tuple(p.ref for p in chosen)
            if missing or not chosen:
                support = 0.0
            elif self.judge is None:
                support = 1.0
            else:
                support = self.judge.yes_probability(check_messages(sentence, chosen))
        approved = not policy and not missing and support >= self.threshold
        return SentenceCheck(
            sentence=sentence,
            claim=claim,
            support=support,
            refs=refs,
            unsupported_numbers=missing,
            policy=policy,
            approved=approved,
            ms=int((time.perf_counter() - started) * 1000),
        )


class _Splitter:
    """Cuts a growing reply into complete sentences, keeping the whitespace before each."""

    def __init__(self) -> None:
        self.buffer = ""

    def feed(self, delta: str) -> list[tuple[str, str]]:
        """Adds text; returns ``(leading whitespace, sentence)`` for each completed sentence."""
        self.buffer += delta
        return self._take(final=False)

    def flush(self) -> list[tuple[str, str]]:
        """Returns what is left once the reply has ended."""
        return self._take(final=True)

    def _take(self, *, final: bool) -> list[tuple[str, str]]:
        sentences = split_sentences(self.buffer)
        if not final:
            # The last piece may still grow; so may the one before it while the last piece is
            # only its citation marker ("days. [1" -> "days. [1]").
            keep = 1
            if sentences and _MARKER_TAIL.match(sentences[-1]):
                keep = 2
            sentences = sentences[:-keep] if len(sentences) > keep else []
        done: list[tuple[str, str]] = []
        for sentence in sentences:
            at = self.buffer.find(sentence)
            if at < 0:  # pragma: no cover - split_sentences returns slices of the buffer
                continue
            done.append((self.buffer[:at], sentence))
            self.buffer = self.buffer[at + len(sentence) :]
        if final:
            self.buffer = ""
        return done


def gated_answer(
    generator: Generator,
    question: str,
    passages: Sequence[Passage],
    *,
    judge: Generator | None = None,
    history: Sequence[tuple[str, str]] = (),
    critique: str | None = None,
    max_new_tokens: int = 200,
    threshold: float = 0.5,
    on_draft: Callback | None = None,
    on_release: Callback | None = None,
) -> GatedAnswer:
    """Writes a grounded answer, releasing each sentence only once the reviewer approved it.

    Args:
        generator: The answerer LLM.
        question: The visitor's question.
        passages: Retrieved passages, numbered by ``ref``.
        judge: The reviewer LLM; None checks policy and figures only (no model review).
        history: Earlier ``(role, text)`` turns of the conversation.
        critique: The reviewer's critique of a previous draft, if this is a rewrite.
        max_new_tokens: Upper bound on the answer's length.
        threshold: A claim's judge support must reach it.
        on_draft: Called with each raw delta as it is written (staff only).
        on_release: Called with each approved sentence (and the whitespace before it).

    Returns:
        The gated answer.

    Raises:
        ModelError: The answerer or the judge failed.
    """
    gate = SentenceGate(judge, question, passages, threshold=threshold)
    messages = build_answer_messages(question, passages, critique=critique, history=history)
    stream = generator.stream_chat(messages, max_new_tokens=max_new_tokens, stop=STOP_STRINGS)
    splitter = _Splitter()
    draft: list[str] = []
    released: list[str] = []
    checks: list[SentenceCheck] = []
    tokens = 0

    def judge_all(ready: list[tuple[str, str]]) -> SentenceCheck | None:
        for space, sentence in ready:
            check = gate.check(sentence)
            checks.append(check)
            if not check.approved:
                return check
            piece = (space if released else "") + sentence
            released.append(piece)
            if on_release is not None:
                on_release(piece)
        return None

    blocked: SentenceCheck | None = None
    try:
        for delta in stream:
            tokens += 1
            draft.append(delta)
            if on_draft is not None:
                on_draft(delta)
            blocked = judge_all(splitter.feed(delta))
            if blocked is not None:
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # stops the model as soon as a sentence is refused
    if blocked is None:
        blocked = judge_all(splitter.flush())
    return GatedAnswer(
        draft="".join(draft).strip(),
        released="".join(released).strip(),
        checks=tuple(checks),
        blocked=blocked,
        tokens=tokens,
    )
