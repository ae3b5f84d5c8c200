"""The reviewer as a gate: every sentence the answerer writes is checked before a visitor sees it.

The answerer streams; as soon as a sentence is complete (the next one has started, or the reply
ended) the reviewer checks it (``workers.inference.sentence_check``). An approved sentence is
released at once; the first refused one stops the answer there. Staff can watch the raw draft as
it is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from workers.inference.answerer import STOP_STRINGS, build_answer_messages, split_sentences
from workers.inference.base import FINISH_LENGTH, FinishReason, Generator, Passage
from workers.inference.evidence import Evidence, evidence_passages, pick_evidence
from workers.inference.grounding import (
    BARE_ANSWER,
    LEAD_IN,
    LINK_MARKER,
    NO_FIGURE,
    RANGE,
    RESTATES_QUESTION,
    asks_for_figure,
    bare_answer,
    is_lead_in,
)
from workers.inference.sentence_check import SentenceCheck, SentenceGate, critique_for

__all__ = [
    "BARE_ANSWER",
    "LEAD_IN",
    "LINK_MARKER",
    "NO_FIGURE",
    "RANGE",
    "REASON_POLICY",
    "REASON_UNSUPPORTED",
    "RESTATES_QUESTION",
    "GatedAnswer",
    "SentenceCheck",
    "SentenceGate",
    "critique_for",
    "ends_sentence",
    "gated_answer",
    "gated_answer_by_part",
    "gated_answer_evidence_first",
]

REASON_UNSUPPORTED = "unsupported"
REASON_POLICY = "policy"
# A tail that is only a (partial) citation marker still belongs to the sentence before it.
_MARKER_TAIL = re.compile(r"^\[[\d,\s]*\]?$")
# A finished sentence ends in end punctuation (maybe closed by quotes or brackets), a citation
# marker, or both, in either order ("days [1]." / "days. [1]").
_FINISHED = re.compile(r"""(?:[.!?\u2026:;]["'\u201d\u2019)\]]*|\[\d+(?:,\s*\d+)*\])\s*$""")

Callback = Callable[[str], None]


@dataclass(frozen=True)
class GatedAnswer:
    """A draft written under the gate.

    Attributes:
        draft: Everything the answerer wrote, up to the first refused sentence included.
        released: The approved sentences, as the visitor saw them.
        checks: One check per sentence, in order.
        blocked: The first refused sentence's check (the answer stopped there), or None.
        tokens: How many deltas the answerer produced.
        withheld: The last sentence when the token limit cut it off: neither judged nor
            released ("" otherwise).
        evidence: Evidence first only: the sentences the answer was written from (none: it was
            written from the whole passages).
        candidates: Evidence first only: every sentence considered, with the model's P(Yes).
    """

    draft: str
    released: str
    checks: tuple[SentenceCheck, ...]
    blocked: SentenceCheck | None
    tokens: int
    withheld: str = ""
    evidence: tuple[Evidence, ...] = ()
    candidates: tuple[Evidence, ...] = ()

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
            check.sentence,
            policy=check.policy,
            unsupported_numbers=check.unsupported_numbers,
            grounding=check.grounding,
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
    parts: Sequence[str] = (),
    critique: str | None = None,
    max_new_tokens: int = 200,
    threshold: float = 0.5,
    on_draft: Callback | None = None,
    on_release: Callback | None = None,
    shown: Sequence[Passage] | None = None,
) -> GatedAnswer:
    """Writes a grounded answer, releasing each sentence only once the reviewer approved it.

    Args:
        generator: The answerer LLM.
        question: The visitor's question.
        passages: Retrieved passages, numbered by ``ref``.
        judge: The reviewer LLM; None checks policy and figures only (no model review).
        history: Earlier ``(role, text)`` turns of the conversation.
        parts: The parts of a question with several, to answer each.
        critique: The reviewer's critique of a previous draft, if this is a rewrite.
        max_new_tokens: Upper bound on the answer's length.
        threshold: A claim's judge support must reach it.
        on_draft: Called with each raw delta as it is written (staff only).
        on_release: Called with each approved sentence (and the whitespace before it).
        shown: What the answerer reads, when not ``passages`` (the evidence, numbered as in
            ``passages``); the gate still checks against ``passages``.

    Returns:
        The gated answer.

    Raises:
        ModelError: The answerer or the judge failed.
    """
    gate = SentenceGate(
        judge,
        question,
        passages,
        threshold=threshold,
        # One figure question: with several parts the first sentence may answer another part.
        needs_figure=asks_for_figure(question) and len(parts) <= 1,
    )
    messages = build_answer_messages(
        question,
        passages if shown is None else shown,
        critique=critique,
        history=history,
        parts=parts,
    )
    stream = generator.stream_chat(messages, max_new_tokens=max_new_tokens, stop=STOP_STRINGS)
    splitter = _Splitter()
    draft: list[str] = []
    released: list[str] = []
    checks: list[SentenceCheck] = []
    # Approved sentences not shown yet: a bare yes or no waits for the fact behind it, a lead-in
    # for what it announces; both go out with the next approved sentence that settles it.
    held: list[tuple[int, str]] = []  # (index in checks, piece)
    tokens = 0

    def must_wait() -> bool:
        text = "".join(piece for _, piece in held)
        return is_lead_in(held[-1][1]) or (not released and bare_answer(text, question))

    def judge_all(ready: list[tuple[str, str]]) -> SentenceCheck | None:
        for space, sentence in ready:
            check = gate.check(sentence)
            checks.append(check)
            if not check.approved:
                return check
            held.append((len(checks) - 1, (space if released or held else "") + sentence))
            if must_wait():
                continue
            for _, piece in held:
                released.append(piece)
                if on_release is not None:
                    on_release(piece)
            held.clear()
        return None

    blocked: SentenceCheck | None = None
    finish: FinishReason | None = None
    try:
        while True:
            try:
                delta = next(stream)
            except StopIteration as end:
                finish = end.value
                break
            tokens += 1
            draft.append(delta)
            if on_draft is not None:
                on_draft(delta)
            blocked = judge_all(splitter.feed(delta))
            if blocked is not None:
                break
    finally:
        stream.close()  # stops the model as soon as a sentence is refused
    withheld = ""
    if blocked is None:
        rest = splitter.flush()
        if finish == FINISH_LENGTH and rest and not ends_sentence(rest[-1][1]):
            # The token limit cut the last sentence off: what it would have said is unknown,
            # so it is neither judged nor shown; staff still see it in the draft.
            withheld = rest.pop()[1]
        blocked = judge_all(rest)
    if held:  # never shown: the answer ended (or was refused) before they were settled
        code = BARE_ANSWER if not released and not is_lead_in(held[-1][1]) else LEAD_IN
        for at, _ in held:
            checks[at] = replace(checks[at], approved=False, grounding=code)
        if blocked is None and not released:
            blocked = checks[held[-1][0]]
    return GatedAnswer(
        draft="".join(draft).strip(),
        released="".join(released).strip(),
        checks=tuple(checks),
        blocked=blocked,
        tokens=tokens,
        withheld=withheld,
    )


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends as a finished sentence: end punctuation, or a citation marker."""
    return bool(_FINISHED.search(text))


def gated_answer_by_part(
    generator: Generator,
    parts: Sequence[tuple[str, Sequence[Passage]]],
    *,
    judge: Generator | None = None,
    history: Sequence[tuple[str, str]] = (),
    critique: str | None = None,
    max_new_tokens: int = 200,
    threshold: float = 0.5,
    on_draft: Callback | None = None,
    on_release: Callback | None = None,
) -> GatedAnswer:
    """Answers each part of a question on its own, under the gate, as one reply.

    A small model asked two things in one prompt tends to answer one, or to blend them; asked
    one at a time, with only that part's passages (numbered as in the whole turn, so citations
    hold), it answers each as it answers a single question. The parts are written one after
    the other; the first refused sentence stops the reply, as in ``gated_answer``.

    Args:
        generator: The answerer LLM.
        parts: Each part's question and its passages.
        judge: The reviewer LLM, as for ``gated_answer``.
        history: Earlier ``(role, text)`` turns of the conversation.
        critique: The critique of a previous draft; every part's rewrite gets it.
        max_new_tokens: Upper bound on each part's answer.
        threshold: A claim's judge support must reach it.
        on_draft: Called with each raw delta (staff only); parts are separated by a newline.
        on_release: Called with each approved sentence; parts are separated by a space.

    Returns:
        The whole reply's gated answer (drafts, released text, checks and tokens together).
    """
    drafts: list[str] = []
    released: list[str] = []
    checks: list[SentenceCheck] = []
    tokens = 0
    withheld: list[str] = []
    blocked: SentenceCheck | None = None
    for question, passages in parts:
        # The first sentence released of a part after the first is set off by a space.
        lead = [" " if released else ""]

        def release(piece: str, lead: list[str] = lead) -> None:
            if on_release is not None:
                on_release(lead[0] + piece)
            lead[0] = ""

        if drafts and on_draft is not None:
            on_draft("\n")
        result = gated_answer(
            generator,
            question,
            passages,
            judge=judge,
            history=history,
            critique=critique,
            max_new_tokens=max_new_tokens,
            threshold=threshold,
            on_draft=on_draft,
            on_release=release,
        )
        drafts.append(result.draft)
        if result.released:
            released.append(result.released)
        checks.extend(result.checks)
        tokens += result.tokens
        if result.withheld:
            withheld.append(result.withheld)
        if result.blocked is not None:
            blocked = result.blocked
            break
    return GatedAnswer(
        draft="\n".join(drafts),
        released=" ".join(released),
        checks=tuple(checks),
        blocked=blocked,
        tokens=tokens,
        withheld=" ".join(withheld),
    )


def gated_answer_evidence_first(
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
    """Picks the sentences that answer the question, then answers from them only, under the gate.

    The evidence is picked by ``workers.inference.evidence.pick_evidence`` (one batched yes/no
    call of ``generator``). The answerer then reads only those sentences, under their passages'
    numbers and titles, so its citations point at the passages they come from; the gate checks
    each sentence against the whole passages, as in ``gated_answer``. When no sentence was
    picked, the answer is written from the whole passages, as ``gated_answer`` does.

    Args:
        generator: The answerer LLM; it also picks the evidence.
        question: The visitor's question.
        passages: Retrieved passages (excerpts where budgeted), numbered by ``ref``.
        judge: The reviewer LLM, as for ``gated_answer``.
        history: Earlier ``(role, text)`` turns of the conversation.
        critique: The critique of a previous draft, if this is a rewrite.
        max_new_tokens: Upper bound on the answer's length.
        threshold: A claim's judge support must reach it.
        on_draft: Called with each raw delta as it is written (staff only).
        on_release: Called with each approved sentence.

    Returns:
        The gated answer, with the evidence and the scored candidates.

    Raises:
        ModelError: The answerer or the judge failed.
    """
    evidence, scored = pick_evidence(generator, question, passages)
    result = gated_answer(
        generator,
        question,
        passages,
        judge=judge,
        history=history,
        critique=critique,
        max_new_tokens=max_new_tokens,
        threshold=threshold,
        on_draft=on_draft,
        on_release=on_release,
        shown=evidence_passages(evidence, passages) if evidence else None,
    )
    return replace(result, evidence=tuple(evidence), candidates=tuple(scored))
