"""The reviewer's stage: decide on a draft (approve, send back, escalate) and end the turn."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from chatapp.assistant.selectors import pipeline_step_output
from chatapp.assistant.services import step_begin, step_finish
from chatapp.assistant.stages.common import WORKER, model_passages
from chatapp.assistant.turn import pipeline_complete, revision_dispatch
from workers.inference.base import Generator
from workers.inference.gate import critique_for
from workers.inference.reviewer import review_answer
from workers.messages import ClaimReview, DraftAnswer, ReviewVerdict, TurnReason, Verdict


def _unchanged_rewrite(draft: DraftAnswer) -> ReviewVerdict | None:
    """Escalate a rewrite identical to the draft the reviewer rejected, without asking again.

    Decoding is greedy, so the same text would get the same verdict, and another rewrite the
    same text: checking it again only costs the visitor time.
    """
    if draft.attempt == 0:
        return None
    kwargs = {"run_id": draft.run_id, "attempt": draft.attempt - 1}
    before = pipeline_step_output(stage="answering", **kwargs)
    rejected = pipeline_step_output(stage="review", **kwargs)
    if before is None or rejected is None or before.get("text") != draft.text:
        return None
    return ReviewVerdict.model_validate(
        {
            **rejected,
            "attempt": draft.attempt,
            "verdict": Verdict.ESCALATED,
            "reason": TurnReason.UNSUPPORTED_ANSWER,
        }
    )


def _decide(draft: DraftAnswer, generator: Generator) -> ReviewVerdict:
    """The reviewer's verdict: fixed by what the draft is, from the gate, or a full review."""
    common = {
        "run_id": draft.run_id,
        "conversation_id": draft.conversation_id,
        "attempt": draft.attempt,
        "model": generator.name,
    }
    fixed = _fixed_verdict(draft, common)
    if fixed is not None:
        return fixed
    if draft.gated:
        return _gated_verdict(draft, common)
    return _full_review(draft, generator, common)


def _escalate(common: dict[str, Any], reason: TurnReason, critique: str = "") -> ReviewVerdict:
    return ReviewVerdict(
        **common, verdict=Verdict.ESCALATED, confidence=0.0, reason=reason, critique=critique
    )


def _fixed_verdict(draft: DraftAnswer, common: dict[str, Any]) -> ReviewVerdict | None:
    """Verdicts that need no reading of the text: skipped, repeated, curated, clarifying, empty."""
    if draft.skipped == "nothing_relevant":
        return _escalate(
            common,
            TurnReason.NO_RELEVANT_PASSAGES,
            "The knowledge bases hold nothing relevant to the question.",
        )
    if draft.skipped == "superseded":
        return _escalate(common, TurnReason.AGENT_TOOK_OVER)
    unchanged = _unchanged_rewrite(draft)
    if unchanged is not None:
        return unchanged
    if draft.curated is not None:  # written and approved by an admin; nothing to check
        return ReviewVerdict(
            **common,
            verdict=Verdict.APPROVED,
            confidence=min(1.0, draft.curated.similarity),
            reason=TurnReason.CURATED_ANSWER,
        )
    if draft.clarifying:  # a question back naming document titles: it states nothing
        return ReviewVerdict(
            **common,
            verdict=Verdict.APPROVED,
            confidence=1.0,
            reason=TurnReason.CLARIFYING_QUESTION,
        )
    if not draft.text:
        return _escalate(common, TurnReason.EMPTY_ANSWER, "The answerer wrote nothing.")
    return None


def _full_review(draft: DraftAnswer, generator: Generator, common: dict[str, Any]) -> ReviewVerdict:
    """Review a whole draft written without the gate (all its claims judged in one batch)."""
    outcome = review_answer(
        generator,
        draft.question,
        draft.text,
        model_passages(draft.passages),
        threshold=settings.CHATAPP_REVIEW_THRESHOLD,
        max_claims=settings.CHATAPP_REVIEW_MAX_CLAIMS,
    )
    claims = [
        ClaimReview(
            sentence=c.sentence,
            support=round(c.support, 4),
            refs=list(c.refs),
            unsupported_numbers=list(c.unsupported_numbers),
        )
        for c in outcome.claims
    ]
    confidence = max(0.0, min(1.0, outcome.confidence))
    if confidence >= settings.CHATAPP_REVIEW_THRESHOLD and not outcome.unsupported:
        verdict, reason = Verdict.APPROVED, TurnReason.NONE
    elif draft.attempt < settings.CHATAPP_MAX_REVISIONS:
        verdict, reason = Verdict.REVISE, TurnReason.UNSUPPORTED_CLAIMS
    else:
        verdict, reason = Verdict.ESCALATED, TurnReason.UNSUPPORTED_ANSWER
    return ReviewVerdict(
        **common,
        verdict=verdict,
        confidence=confidence,
        critique=outcome.critique,
        reason=reason,
        claims=claims,
    )


def _gated_verdict(draft: DraftAnswer, common: dict[str, Any]) -> ReviewVerdict:
    """Decide on a draft whose sentences were reviewed as they were written (no model call).

    Approve when every sentence passed and at least one states something; a policy refusal
    escalates at once; an unsupported sentence is sent back for a rewrite while the visitor has
    seen no claim yet and a rewrite is left, else escalated.
    """
    claims = [c for c in draft.checks if c.claim]
    blocked = next((c for c in draft.checks if not c.released), None)
    confidence = min((c.support for c in claims), default=0.0)
    shared = {**common, "confidence": confidence, "claims": draft.checks}
    if blocked is None:
        if claims:
            return ReviewVerdict(**shared, verdict=Verdict.APPROVED)
        return ReviewVerdict(
            **shared,
            verdict=Verdict.ESCALATED,
            reason=TurnReason.NO_CLAIMS,
            critique="The answer said nothing the passages could support.",
        )
    critique = critique_for(
        blocked.sentence,
        policy=blocked.policy,
        unsupported_numbers=blocked.unsupported_numbers,
        grounding=blocked.grounding,
    )
    if blocked.policy:
        return ReviewVerdict(
            **shared,
            verdict=Verdict.ESCALATED,
            reason=TurnReason.POLICY_VIOLATION,
            critique=critique,
        )
    shown = any(c.claim and c.released for c in draft.checks)
    if not shown and draft.attempt < settings.CHATAPP_MAX_REVISIONS:
        return ReviewVerdict(
            **shared,
            verdict=Verdict.REVISE,
            reason=TurnReason.UNSUPPORTED_CLAIMS,
            critique=critique,
        )
    return ReviewVerdict(
        **shared,
        verdict=Verdict.ESCALATED,
        reason=TurnReason.UNSUPPORTED_ANSWER,
        critique=critique,
    )


def review_run(draft: DraftAnswer, *, generator: Generator) -> ReviewVerdict:
    """Check a draft against its passages, then approve it, send it back, or escalate."""
    step, pending = step_begin(
        run_id=draft.run_id,
        stage="review",
        attempt=draft.attempt,
        payload=draft,
        model=generator.name,
        worker=WORKER,
    )
    verdict = (
        ReviewVerdict.model_validate(step.output) if not pending else _decide(draft, generator)
    )
    if pending:
        step_finish(step=step, output=verdict)
    if verdict.verdict == Verdict.REVISE:
        revision_dispatch(draft=draft, critique=verdict.critique)
    else:
        pipeline_complete(draft=draft, verdict=verdict)
    return verdict
