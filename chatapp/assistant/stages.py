"""Worker side of the three stages: run the model, record the step, hand on a message.

Called by the thin Celery tasks in ``workers.tasks``; models are passed in (loaded once).
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import asdict
from typing import Any

from django.conf import settings

from chatapp.assistant.selectors import pipeline_step_output
from chatapp.assistant.services import (
    answer_delta,
    answer_draft,
    pipeline_complete,
    revision_dispatch,
    run_is_live,
    step_begin,
    step_finish,
)
from chatapp.knowledge.curated import curated_answer_match
from chatapp.knowledge.selectors import chunk_search_hybrid, query_clean
from workers.inference.answerer import extract_citations
from workers.inference.base import Embedder, Generator, Passage
from workers.inference.context import compress_passages
from workers.inference.gate import GatedAnswer, critique_for, gated_answer
from workers.inference.policy import sanitize_passage
from workers.inference.reviewer import review_answer
from workers.messages import (
    Citation,
    ClaimReview,
    CuratedAnswerRef,
    DraftAnswer,
    PassageRef,
    RetrievalResult,
    ReviewVerdict,
    TurnRequest,
)

logger = logging.getLogger(__name__)

# Deltas are batched so a fast model does not send one Redis message per token.
DELTA_FLUSH_S = 0.05
WORKER = socket.gethostname()
# Questions this short are read as follow-ups of the previous one when searching.
FOLLOW_UP_MAX_WORDS = 5


def contextual_query(request: TurnRequest) -> str:
    """The text to search for; a short follow-up borrows the visitor's previous question.

    "And for furniture?" says little alone; the question before it holds the topic.
    """
    if len(request.question.split()) > FOLLOW_UP_MAX_WORDS:
        return request.question
    previous = [t.text for t in request.history if t.role == "user"]
    return f"{previous[-1]} {request.question}" if previous else request.question


def retrieval_run(request: TurnRequest, *, embedder: Embedder) -> RetrievalResult:
    """Find passages for the question (hybrid search over the conversation's knowledge bases)."""
    step, pending = step_begin(
        run_id=request.run_id,
        stage="retrieval",
        attempt=0,
        payload=request,
        model=embedder.name,
        worker=WORKER,
    )
    if not pending:
        return RetrievalResult.model_validate(step.output)
    # The cleaned query (bounded length) is embedded, so a huge message costs no more.
    vector = embedder.embed([query_clean(request.question)])[0]
    curated = curated_answer_match(
        embedding=vector.tolist(), knowledge_base_ids=request.knowledge_base_ids
    )
    if curated is not None:  # an admin's answer wins; no passages needed
        result = RetrievalResult(
            run_id=request.run_id,
            conversation_id=request.conversation_id,
            question=request.question,
            passages=[],
            curated=CuratedAnswerRef(**asdict(curated)),
            model=embedder.name,
        )
        step_finish(step=step, output=result)
        return result
    search_query = contextual_query(request)
    if search_query != request.question:
        vector = embedder.embed([query_clean(search_query)])[0]
    hits = chunk_search_hybrid(
        query=search_query,
        embedding=vector.tolist(),
        knowledge_base_ids=request.knowledge_base_ids,
        k=settings.CHATAPP_RETRIEVAL_K,
    )
    # Relevance is calibrated across searches (similarity alone could not tell out-of-scope
    # questions apart on the demo set: bench/results/retrieval.md).
    best = max((h.relevance for h in hits), default=0.0)
    nothing_relevant = not hits or best < settings.CHATAPP_RETRIEVAL_MIN_SCORE
    passages = [
        PassageRef(
            ref=i,
            chunk_id=h.chunk_id,
            document_id=h.document_id,
            title=h.title,
            text=h.text,
            score=h.score,
            found_by=list(h.found_by),
            source_url=h.source_url,
        )
        for i, h in enumerate(hits, start=1)
    ]
    if not nothing_relevant:
        passages = model_excerpts(search_query, passages, embedder=embedder)
    result = RetrievalResult(
        run_id=request.run_id,
        conversation_id=request.conversation_id,
        question=request.question,
        passages=passages,
        nothing_relevant=nothing_relevant,
        history=request.history,
        search_query=search_query,
        model=embedder.name,
    )
    step_finish(step=step, output=result)
    return result


def model_excerpts(
    query: str, passages: list[PassageRef], *, embedder: Embedder
) -> list[PassageRef]:
    """What the models will read of each passage: injected instructions out, then the budget.

    Args:
        query: The search query (the question, or the follow-up with its predecessor).
        passages: The retrieved passages, whole.
        embedder: Scores sentences against the query for the context budget.

    Returns:
        The passages with ``excerpt`` (when shorter than the text) and ``quarantined`` set.
    """
    cleaned = [sanitize_passage(p.text) for p in passages]
    excerpts = compress_passages(
        query,
        [text for text, _ in cleaned],
        embedder,
        budget_words=settings.CHATAPP_CONTEXT_BUDGET_WORDS,
    )
    return [
        p.model_copy(
            update={
                "excerpt": excerpt.text if excerpt.text != p.text.strip() else "",
                "quarantined": removed,
            }
        )
        for p, (_, removed), excerpt in zip(passages, cleaned, excerpts, strict=True)
    ]


def _passages(refs: list[PassageRef]) -> list[Passage]:
    return [Passage(ref=p.ref, title=p.title, text=p.model_text) for p in refs]


def answer_run(
    retrieval: RetrievalResult,
    *,
    generator: Generator,
    judge: Generator | None = None,
    attempt: int = 0,
    critique: str | None = None,
) -> DraftAnswer:
    """Write a grounded draft; each sentence reaches the visitor once the reviewer approved it.

    Args:
        retrieval: The retriever's message.
        generator: The answerer.
        judge: The reviewer's model, asked about each sentence as it is written (None: figures
            and policy only).
        attempt: 0, or the number of the rewrite.
        critique: The reviewer's critique of the previous attempt.

    Returns:
        The draft: raw text for staff, the released text and each sentence's review.
    """
    step, pending = step_begin(
        run_id=retrieval.run_id,
        stage="answering",
        attempt=attempt,
        payload=retrieval,
        model=generator.name,
        worker=WORKER,
    )
    if not pending:
        return DraftAnswer.model_validate(step.output)
    base = {
        "run_id": retrieval.run_id,
        "conversation_id": retrieval.conversation_id,
        "attempt": attempt,
        "question": retrieval.question,
        "passages": retrieval.passages,
        "critique": critique,
        "history": retrieval.history,
        "model": generator.name,
    }
    if retrieval.curated is not None:
        answer_delta(
            run_id=retrieval.run_id,
            conversation_id=retrieval.conversation_id,
            text=retrieval.curated.answer,
            attempt=attempt,
        )
        draft = DraftAnswer(
            **base, text=retrieval.curated.answer, citations=[], curated=retrieval.curated
        )
        step_finish(step=step, output=draft)
        return draft
    skipped = None
    if retrieval.nothing_relevant:
        skipped = "nothing_relevant"
    elif not run_is_live(retrieval.run_id):
        skipped = "superseded"
    if skipped is not None:
        draft = DraftAnswer(**base, text="", citations=[], skipped=skipped)
        step_finish(step=step, output=draft)
        return draft
    gated = _write_gated(
        retrieval, generator=generator, judge=judge, attempt=attempt, critique=critique
    )
    draft = DraftAnswer(
        **base,
        text=gated.draft,
        citations=_citations_of(gated.released, retrieval.passages),
        tokens=gated.tokens,
        gated=True,
        released=gated.released,
        checks=[
            ClaimReview(
                sentence=c.sentence,
                support=round(c.support, 4),
                refs=list(c.refs),
                unsupported_numbers=list(c.unsupported_numbers),
                claim=c.claim,
                policy=c.policy,
                released=c.approved,
                ms=c.ms,
            )
            for c in gated.checks
        ],
    )
    step_finish(step=step, output=draft)
    return draft


def _write_gated(
    retrieval: RetrievalResult,
    *,
    generator: Generator,
    judge: Generator | None,
    attempt: int,
    critique: str | None,
) -> GatedAnswer:
    """Run the answerer under the sentence gate: staff see the draft, visitors what passed."""
    run_id, conversation_id = retrieval.run_id, retrieval.conversation_id
    pending: list[str] = []
    last_flush = time.monotonic()

    def on_draft(delta: str) -> None:
        nonlocal last_flush
        pending.append(delta)
        # Batched so a fast model does not send one Redis message per token.
        if time.monotonic() - last_flush >= DELTA_FLUSH_S:
            answer_draft(
                run_id=run_id,
                conversation_id=conversation_id,
                text="".join(pending),
                attempt=attempt,
            )
            pending.clear()
            last_flush = time.monotonic()

    def on_release(sentence: str) -> None:
        answer_delta(run_id=run_id, conversation_id=conversation_id, text=sentence, attempt=attempt)

    gated = gated_answer(
        generator,
        retrieval.question,
        _passages(retrieval.passages),
        judge=judge,
        history=[(t.role, t.text) for t in retrieval.history],
        critique=critique,
        max_new_tokens=settings.CHATAPP_ANSWER_MAX_TOKENS,
        threshold=settings.CHATAPP_REVIEW_THRESHOLD,
        on_draft=on_draft,
        on_release=on_release,
    )
    if pending:
        answer_draft(
            run_id=run_id,
            conversation_id=conversation_id,
            text="".join(pending),
            attempt=attempt,
        )
    return gated


def _citations_of(text: str, refs: list[PassageRef]) -> list[Citation]:
    """Citations of the released text: the passages its markers (or its words) point at."""
    if not text:
        return []
    by_ref = {p.ref: p for p in refs}
    return [
        Citation(
            ref=c.ref,
            document_id=by_ref[c.ref].document_id,
            chunk_id=by_ref[c.ref].chunk_id,
            title=by_ref[c.ref].title,
            quote=c.quote,
        )
        for c in extract_citations(text, _passages(refs))
        if c.ref in by_ref
    ]


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
            "verdict": "escalated",
            "reason": "unsupported_answer",
        }
    )


def _decide(draft: DraftAnswer, generator: Generator) -> ReviewVerdict:
    common = {
        "run_id": draft.run_id,
        "conversation_id": draft.conversation_id,
        "attempt": draft.attempt,
        "model": generator.name,
    }
    if draft.skipped == "nothing_relevant":
        return ReviewVerdict(
            **common,
            verdict="escalated",
            confidence=0.0,
            reason="no_relevant_passages",
            critique="The knowledge bases hold nothing relevant to the question.",
        )
    if draft.skipped == "superseded":
        return ReviewVerdict(
            **common,
            verdict="escalated",
            confidence=0.0,
            reason="agent_took_over",
        )
    unchanged = _unchanged_rewrite(draft)
    if unchanged is not None:
        return unchanged
    if draft.curated is not None:  # written and approved by an admin; nothing to check
        return ReviewVerdict(
            **common,
            verdict="approved",
            confidence=min(1.0, draft.curated.similarity),
            reason="curated_answer",
        )
    if not draft.text:
        return ReviewVerdict(
            **common,
            verdict="escalated",
            confidence=0.0,
            reason="empty_answer",
            critique="The answerer wrote nothing.",
        )
    if draft.gated:
        return _gated_verdict(draft, common)
    outcome = review_answer(
        generator,
        draft.question,
        draft.text,
        _passages(draft.passages),
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
        verdict, reason = "approved", ""
    elif draft.attempt < settings.CHATAPP_MAX_REVISIONS:
        verdict, reason = "revise", "unsupported_claims"
    else:
        verdict, reason = "escalated", "unsupported_answer"
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
            return ReviewVerdict(**shared, verdict="approved")
        return ReviewVerdict(
            **shared,
            verdict="escalated",
            reason="no_claims",
            critique="The answer said nothing the passages could support.",
        )
    critique = critique_for(
        blocked.sentence, policy=blocked.policy, unsupported_numbers=blocked.unsupported_numbers
    )
    if blocked.policy:
        return ReviewVerdict(
            **shared, verdict="escalated", reason="policy_violation", critique=critique
        )
    shown = any(c.claim and c.released for c in draft.checks)
    if not shown and draft.attempt < settings.CHATAPP_MAX_REVISIONS:
        return ReviewVerdict(
            **shared, verdict="revise", reason="unsupported_claims", critique=critique
        )
    return ReviewVerdict(
        **shared, verdict="escalated", reason="unsupported_answer", critique=critique
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
    if verdict.verdict == "revise":
        revision_dispatch(draft=draft, critique=verdict.critique)
    else:
        pipeline_complete(draft=draft, verdict=verdict)
    return verdict
