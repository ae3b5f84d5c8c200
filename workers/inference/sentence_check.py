"""The reviewer's check of one sentence, made before a visitor sees it.

In order: the policy (no requests for secrets, no promises or contacts the passages do not
hold, no obeyed injections), the figures (every number, and every range, must be in the
passages), the grounding checks (``workers.inference.grounding``), then the judge's P(Yes) that
the passages state it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from workers.inference.answerer import strip_markers
from workers.inference.base import Generator, Passage
from workers.inference.grounding import (
    BARE_ANSWER,
    LEAD_IN,
    LINK_MARKER,
    NO_FIGURE,
    RANGE,
    RESTATES_QUESTION,
    has_figure,
    lexical_support,
    marker_as_link,
    restates_question,
    unsupported_ranges,
)
from workers.inference.policy import policy_violation
from workers.inference.reviewer import (
    check_messages,
    claim_passages,
    is_trivial,
    passages_with,
    unsupported_numbers,
)

__all__ = ["SentenceCheck", "SentenceGate", "critique_for"]


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
        grounding: "" or the code of the grounding check that refused it
            (``workers.inference.grounding``: a range, a marker used as a link, a figure
            question answered without one, a restated question).
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
    grounding: str = ""


def critique_for(
    sentence: str, *, policy: str, unsupported_numbers: Sequence[str], grounding: str = ""
) -> str:
    """The critique of one refused sentence, for the answerer's rewrite and the trace.

    Args:
        sentence: The refused sentence.
        policy: The policy code that refused it, or "".
        unsupported_numbers: Its figures that no passage holds.
        grounding: The grounding check that refused it, or "".

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
    if grounding == LINK_MARKER:
        return (
            f'- "{text}": the customer cannot open a citation number. Write the page, address '
            "or steps the passage gives, then cite it."
        )
    if grounding == NO_FIGURE:
        return (
            f'- "{text}": the question asks for a figure. Start the answer with the figure '
            "the passages give."
        )
    if grounding == RESTATES_QUESTION:
        return f'- "{text}": this repeats the question. Start with the answer the passages give.'
    if grounding == BARE_ANSWER:
        return (
            f'- "{text}": a yes or no in the question\'s own words tells the customer nothing. '
            "Give the fact from the passages that answers it, or say they do not say."
        )
    if grounding == LEAD_IN:
        return f'- "{text}": nothing followed this. Give the steps or facts themselves.'
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
        needs_figure: The question asks for an amount or a duration: the first claim must
            state one (an answer that leads with something else has not answered it).
        grounding: Run the grounding checks (off only to measure what they add).
        lexical: ``(coverage, floor)``: a claim whose words a cited passage holds to at least
            ``coverage`` (``lexical_support``) passes with a judge support of ``floor`` or more
            instead of ``threshold``. None: the judge's threshold alone.
    """

    def __init__(
        self,
        judge: Generator | None,
        question: str,
        passages: Sequence[Passage],
        *,
        threshold: float,
        needs_figure: bool = False,
        grounding: bool = True,
        lexical: tuple[float, float] | None = None,
    ) -> None:
        self.judge = judge
        self.question = question
        self.passages = list(passages)
        self.threshold = threshold
        self.needs_figure = needs_figure
        self.grounding = grounding
        self.lexical = lexical
        self.claims_seen = 0

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
        first = claim and self.claims_seen == 0
        self.claims_seen += int(claim)
        refs: tuple[int, ...] = ()
        chosen: list[Passage] = []
        missing: tuple[str, ...] = ()
        grounding = ""
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
            if self.grounding:
                ranges = unsupported_ranges(sentence, sources)
                grounding = self._grounding_issue(sentence, missing, ranges, first=first)
                missing += ranges
            if missing or grounding or not chosen:
                support = 0.0
            elif self.judge is None:
                support = 1.0
            else:
                support = self.judge.yes_probability(check_messages(sentence, chosen))
        needed = self.threshold
        if chosen and self.lexical is not None and support < self.threshold:
            coverage, floor = self.lexical
            if lexical_support(sentence, chosen) >= coverage:
                needed = floor
        approved = not policy and not missing and not grounding and support >= needed
        return SentenceCheck(
            sentence=sentence,
            claim=claim,
            support=support,
            refs=refs,
            unsupported_numbers=missing,
            policy=policy,
            approved=approved,
            ms=int((time.perf_counter() - started) * 1000),
            grounding=grounding,
        )

    def _grounding_issue(
        self, sentence: str, numbers: Sequence[str], ranges: Sequence[str], *, first: bool
    ) -> str:
        """The code of the first deterministic check a claim fails, or ""."""
        if ranges and not numbers:
            return RANGE
        if numbers:
            return ""  # the missing figures say it already
        if marker_as_link(sentence):
            return LINK_MARKER
        if first and self.needs_figure and not has_figure(sentence):
            return NO_FIGURE
        if first and restates_question(sentence, self.question):
            return RESTATES_QUESTION
        return ""
