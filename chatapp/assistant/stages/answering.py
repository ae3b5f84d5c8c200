"""The answerer's stage: write the answer under the sentence gate, streaming what passes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.conf import settings

from chatapp.assistant.services import (
    answer_delta,
    answer_draft,
    run_is_live,
    step_begin,
    step_finish,
)
from chatapp.assistant.stages.common import WORKER, model_passages
from workers.inference.answerer import extract_citations
from workers.inference.base import Generator
from workers.inference.gate import (
    GatedAnswer,
    SentenceCheck,
    gated_answer,
    gated_answer_by_part,
    gated_answer_evidence_first,
)
from workers.messages import (
    Citation,
    ClaimReview,
    DraftAnswer,
    EvidenceSentence,
    PassageRef,
    RetrievalResult,
)

# Draft deltas to staff are batched so a fast model does not send one Redis message per token.
DELTA_FLUSH_S = 0.05


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
    base = DraftAnswer(
        run_id=retrieval.run_id,
        conversation_id=retrieval.conversation_id,
        attempt=attempt,
        question=retrieval.question,
        passages=retrieval.passages,
        text="",
        citations=[],
        critique=critique,
        history=retrieval.history,
        model=generator.name,
        parts=retrieval.parts,
        unanswered=[p.text for p in retrieval.parts if not p.answerable],
    )
    # One id per execution: a stage run again after its worker died streams from the start, and
    # clients restart the bubble on a new id instead of showing the sentences twice.
    stream = uuid.uuid4().hex[:12]
    draft = _draft(retrieval, base, generator=generator, judge=judge, stream=stream)
    step_finish(step=step, output=draft)
    return draft


def _draft(
    retrieval: RetrievalResult,
    base: DraftAnswer,
    *,
    generator: Generator,
    judge: Generator | None,
    stream: str,
) -> DraftAnswer:
    """The draft for this retrieval: a fixed text, nothing (skipped), or a gated answer."""
    fixed = None
    if retrieval.curated is not None:  # an admin wrote and approved it
        fixed = base.model_copy(
            update={"text": retrieval.curated.answer, "curated": retrieval.curated}
        )
    elif retrieval.clarify:  # a question back, built from document titles: nothing to check
        fixed = base.model_copy(update={"text": retrieval.clarify, "clarifying": True})
    if fixed is not None:
        answer_delta(
            run_id=base.run_id,
            conversation_id=base.conversation_id,
            text=fixed.text,
            attempt=base.attempt,
            stream=stream,
        )
        return fixed
    if retrieval.nothing_relevant:
        return base.model_copy(update={"skipped": "nothing_relevant"})
    if not run_is_live(retrieval.run_id):
        return base.model_copy(update={"skipped": "superseded"})
    gated = _write_gated(
        retrieval,
        generator=generator,
        judge=judge,
        attempt=base.attempt,
        critique=base.critique,
        stream=stream,
    )
    return base.model_copy(
        update={
            "text": gated.draft,
            "citations": _citations_of(gated.released, retrieval.passages),
            "tokens": gated.tokens,
            "gated": True,
            "released": gated.released,
            "withheld": gated.withheld,
            "checks": [_claim_review(c) for c in gated.checks],
            "evidence": _evidence_of(gated),
        }
    )


def _evidence_of(gated: GatedAnswer) -> list[EvidenceSentence]:
    """The sentences weighed as evidence (evidence first only), marking those the answer used."""
    chosen = {(e.ref, e.index) for e in gated.evidence}
    return [
        EvidenceSentence(
            ref=e.ref, sentence=e.sentence, support=e.support, chosen=(e.ref, e.index) in chosen
        )
        for e in gated.candidates
    ]


def _claim_review(check: SentenceCheck) -> ClaimReview:
    return ClaimReview(
        sentence=check.sentence,
        support=round(check.support, 4),
        refs=list(check.refs),
        unsupported_numbers=list(check.unsupported_numbers),
        claim=check.claim,
        policy=check.policy,
        grounding=check.grounding,
        released=check.approved,
        ms=check.ms,
    )


def _write_gated(
    retrieval: RetrievalResult,
    *,
    generator: Generator,
    judge: Generator | None,
    attempt: int,
    critique: str | None,
    stream: str,
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
                stream=stream,
            )
            pending.clear()
            last_flush = time.monotonic()

    def on_release(sentence: str) -> None:
        answer_delta(
            run_id=run_id,
            conversation_id=conversation_id,
            text=sentence,
            attempt=attempt,
            stream=stream,
        )

    gated = gated_reply(
        retrieval,
        generator=generator,
        judge=judge,
        critique=critique,
        per_part=settings.CHATAPP_ANSWER_PER_PART,
        evidence_first=settings.CHATAPP_ANSWER_EVIDENCE_FIRST,
        on_draft=on_draft,
        on_release=on_release,
    )
    if pending:
        answer_draft(
            run_id=run_id,
            conversation_id=conversation_id,
            text="".join(pending),
            attempt=attempt,
            stream=stream,
        )
    return gated


def gated_reply(
    retrieval: RetrievalResult,
    *,
    generator: Generator,
    judge: Generator | None,
    critique: str | None,
    per_part: bool,
    evidence_first: bool = False,
    on_draft: Callable[[str], None] | None = None,
    on_release: Callable[[str], None] | None = None,
) -> GatedAnswer:
    """The answerer under the gate: all parts in one prompt, or (``per_part``) a part at a time.

    With ``evidence_first`` a question with one part is answered from the passage sentences
    that answer it (``gated_answer_evidence_first``); a question with several parts is not.
    No storage and no broadcast here, so the answers benchmark runs the very same path.
    """
    passages = model_passages(retrieval.passages)
    answerable = [p for p in retrieval.parts if p.answerable]
    history = [(t.role, t.text) for t in retrieval.history]
    max_new_tokens = settings.CHATAPP_ANSWER_MAX_TOKENS
    threshold = settings.CHATAPP_REVIEW_THRESHOLD
    if per_part and len(answerable) > 1:
        by_ref = {p.ref: p for p in passages}
        return gated_answer_by_part(
            generator,
            [(part.text, [by_ref[r] for r in part.refs if r in by_ref]) for part in answerable],
            judge=judge,
            history=history,
            critique=critique,
            max_new_tokens=max_new_tokens,
            threshold=threshold,
            on_draft=on_draft,
            on_release=on_release,
        )
    if evidence_first and len(answerable) <= 1:
        return gated_answer_evidence_first(
            generator,
            retrieval.question,
            passages,
            judge=judge,
            history=history,
            critique=critique,
            max_new_tokens=max_new_tokens,
            threshold=threshold,
            on_draft=on_draft,
            on_release=on_release,
        )
    return gated_answer(
        generator,
        retrieval.question,
        passages,
        judge=judge,
        history=history,
        parts=[p.text for p in answerable],
        critique=critique,
        max_new_tokens=max_new_tokens,
        threshold=threshold,
        on_draft=on_draft,
        on_release=on_release,
    )


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
        for c in extract_citations(text, model_passages(refs))
        if c.ref in by_ref
    ]
