"""The retriever's stage: find passages for a turn and prepare what the models will read."""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings

from chatapp.assistant.services import step_begin, step_finish
from chatapp.assistant.stages.common import WORKER
from chatapp.knowledge.curated import curated_answer_match
from chatapp.knowledge.selectors import chunk_search_hybrid, query_clean
from workers.inference.base import Embedder
from workers.inference.context import compress_passages
from workers.inference.policy import sanitize_passage
from workers.messages import CuratedAnswerRef, PassageRef, RetrievalResult, TurnRequest

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
