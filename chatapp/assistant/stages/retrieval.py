"""The retriever's stage: find passages for a turn and prepare what the models will read."""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings

from chatapp.assistant.services import step_begin, step_finish
from chatapp.assistant.stages.common import WORKER
from chatapp.knowledge.curated import curated_answer_match
from chatapp.knowledge.routing import Route, routed_search
from chatapp.knowledge.selectors import SearchHit, query_clean
from workers.inference.base import Embedder
from workers.inference.context import compress_passages
from workers.inference.policy import sanitize_passage
from workers.inference.questions import (
    CLARIFY_PREFIX,
    Topic,
    clarifying_question,
    split_question,
)
from workers.messages import (
    CuratedAnswerRef,
    KnowledgeBaseRoute,
    PassageRef,
    QuestionPart,
    RetrievalResult,
    TurnRequest,
)

# Questions this short are read as follow-ups of the previous one when searching.
FOLLOW_UP_MAX_WORDS = 5
# Passages per part of a question with several: the context budget shares the prompt anyway.
PART_K = 3


def contextual_query(request: TurnRequest) -> str:
    """The text to search for; a short follow-up borrows the visitor's previous question.

    "And for furniture?" says little alone; the question before it holds the topic.
    """
    if len(request.question.split()) > FOLLOW_UP_MAX_WORDS:
        return request.question
    previous = [t.text for t in request.history if t.role == "user"]
    return f"{previous[-1]} {request.question}" if previous else request.question


def retrieval_run(request: TurnRequest, *, embedder: Embedder) -> RetrievalResult:
    """Find passages for the question and record the step (see ``retrieve``)."""
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
    result = retrieve(request, embedder=embedder)
    step_finish(step=step, output=result)
    return result


def retrieve(request: TurnRequest, *, embedder: Embedder) -> RetrievalResult:
    """Find passages for a question over the conversation's knowledge bases.

    An admin's curated answer close enough to the question wins. Otherwise each part of the
    question is searched on its own (all parts embedded in one batch); a short, vague question
    whose best passages come from different documents equally gets a clarifying question back.

    Args:
        request: The turn.
        embedder: Embeds the queries (and scores sentences for the context budget).

    Returns:
        The retriever's message: passages numbered from 1, parts, or a curated answer.
    """
    ids = {"run_id": request.run_id, "conversation_id": request.conversation_id}
    # The cleaned query (bounded length) is embedded, so a huge message costs no more.
    vector = embedder.embed([query_clean(request.question)])[0]
    curated = curated_answer_match(
        embedding=vector.tolist(), knowledge_base_ids=request.knowledge_base_ids
    )
    if curated is not None:  # an admin's answer wins; no passages needed
        return RetrievalResult(
            **ids,
            question=request.question,
            passages=[],
            curated=CuratedAnswerRef(**asdict(curated)),
            model=embedder.name,
        )
    texts = split_question(request.question)
    queries = [contextual_query(request)] if len(texts) == 1 else texts
    vectors = embedder.embed([query_clean(q) for q in queries])
    share = settings.CHATAPP_RETRIEVAL_K if len(texts) == 1 else PART_K
    searches = [
        routed_search(
            query=query,
            embedding=vectors[i].tolist(),
            knowledge_base_ids=request.knowledge_base_ids,
            k=share,
        )
        for i, query in enumerate(queries)
    ]
    found = [hits for hits, _ in searches]
    routes = [[_route_message(r) for r in routed] for _, routed in searches]
    parts, passages = _allocate(texts, queries, found, routes)
    nothing_relevant = not passages
    clarify = "" if nothing_relevant or len(texts) > 1 else _clarify(request, found[0])
    if passages and not clarify:
        passages = model_excerpts(" ".join(queries), passages, embedder=embedder)
    return RetrievalResult(
        **ids,
        question=request.question,
        passages=passages,
        nothing_relevant=nothing_relevant,
        history=request.history,
        search_query=queries[0] if len(queries) == 1 else " | ".join(queries),
        model=embedder.name,
        parts=parts if len(parts) > 1 else [],
        clarify=clarify,
        routes=routes[0] if len(parts) == 1 else [],
    )


def _allocate(
    texts: list[str],
    queries: list[str],
    found: list[list[SearchHit]],
    routes: list[list[KnowledgeBaseRoute]],
) -> tuple[list[QuestionPart], list[PassageRef]]:
    """Number the passages of the answerable parts (each chunk once) and note who found what.

    Relevance is calibrated across searches (similarity alone could not tell out-of-scope
    questions apart on the demo set: bench/results/retrieval.md), so each part is judged alone.
    """
    passages: dict[int, PassageRef] = {}
    parts = []
    for text, query, hits, routed in zip(texts, queries, found, routes, strict=True):
        best = max((h.relevance for h in hits), default=0.0)
        answerable = bool(hits) and best >= settings.CHATAPP_RETRIEVAL_MIN_SCORE
        refs = []
        for hit in hits if answerable else []:
            if hit.chunk_id not in passages:
                passages[hit.chunk_id] = _passage_ref(len(passages) + 1, hit)
            refs.append(passages[hit.chunk_id].ref)
        parts.append(
            QuestionPart(
                text=text,
                search_query=query,
                refs=refs,
                relevance=round(best, 4),
                answerable=answerable,
                routes=routed,
            )
        )
    return parts, list(passages.values())


def _route_message(route: Route) -> KnowledgeBaseRoute:
    return KnowledgeBaseRoute(
        knowledge_base_id=route.knowledge_base_id,
        name=route.name,
        relevance=route.relevance,
        hits=route.hits,
        chosen=route.chosen,
    )


def _passage_ref(ref: int, hit: SearchHit) -> PassageRef:
    return PassageRef(
        ref=ref,
        chunk_id=hit.chunk_id,
        document_id=hit.document_id,
        title=hit.title,
        text=hit.text,
        score=hit.score,
        found_by=list(hit.found_by),
        source_url=hit.source_url,
    )


def _clarify(request: TurnRequest, hits: list[SearchHit]) -> str:
    """A question back for a vague question, at most once in a row."""
    last_bot = next((t.text for t in reversed(request.history) if t.role == "assistant"), "")
    if last_bot.startswith(CLARIFY_PREFIX):
        return ""  # asked already: answer the best match rather than ask again
    topics: dict[int, Topic] = {}
    for hit in sorted(hits, key=lambda h: -h.relevance):
        if hit.relevance >= settings.CHATAPP_RETRIEVAL_MIN_SCORE:
            topics.setdefault(hit.document_id, Topic(title=hit.title, relevance=hit.relevance))
    return clarifying_question(request.question, list(topics.values())) or ""


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
