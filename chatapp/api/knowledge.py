"""REST operations on knowledge bases: documents, imports, re-index, search, curated answers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from chatapp.accounts import permissions
from chatapp.api import responses as out
from chatapp.api import schemas
from chatapp.api.bulk import bulk_sources
from chatapp.api.http import parse_json, validate
from chatapp.api.security import STAFF, staff_of
from chatapp.api.uploads import limit_upload, uploaded_file
from chatapp.core import ratelimit
from chatapp.core.errors import ApplicationError
from chatapp.core.timing import timing_for
from chatapp.knowledge import curated as kb_curated
from chatapp.knowledge import jobs as kb_jobs
from chatapp.knowledge import selectors as kb_selectors
from chatapp.knowledge import services as kb_services
from chatapp.knowledge.selectors import admin as kb_admin_selectors
from chatapp.knowledge.selectors import jobs as kb_job_selectors

router = Router(tags=["knowledge"])
KB = "/knowledge-bases/{int:kb_id}"
DOCUMENT = "/documents/{int:document_id}"
MULTIPART = "multipart/form-data"


def _may_write(request: HttpRequest) -> None:
    permissions.require(permissions.Action.KNOWLEDGE_WRITE, staff_of(request))


def _schema(model: type[Any]) -> dict[str, Any]:
    return dict(model.model_json_schema())


@router.get(
    "/knowledge-bases",
    auth=STAFF,
    response=out.answers({200: out.KnowledgeBaseList}),
    summary="The knowledge bases",
)
def knowledge_base_list(request: HttpRequest) -> out.KnowledgeBaseList:
    return out.KnowledgeBaseList(
        results=[
            out.KnowledgeBaseOut(
                id=kb.pk,
                name=kb.name,
                description=kb.description,
                is_default=kb.is_default,
                visibility=kb.visibility,
            )
            for kb in kb_selectors.knowledge_base_list()
        ]
    )


@router.post(
    "/knowledge-bases",
    auth=STAFF,
    response=out.answers({201: out.KnowledgeBaseCreated}, 409, 415),
    summary="Create a knowledge base (admins)",
)
def knowledge_base_create(
    request: HttpRequest, body: schemas.KnowledgeBaseCreate
) -> Status[out.KnowledgeBaseCreated]:
    _may_write(request)
    kb = kb_services.knowledge_base_create(
        name=body.name,
        description=body.description,
        is_default=body.is_default,
        visibility=body.visibility,
    )
    return Status(
        201,
        out.KnowledgeBaseCreated(
            id=kb.pk, name=kb.name, is_default=kb.is_default, visibility=kb.visibility
        ),
    )


@router.get(
    f"{KB}/documents",
    auth=STAFF,
    response=out.answers({200: out.DocumentList}),
    summary="The knowledge base's documents with their status, newest change first",
)
def document_list(request: HttpRequest, kb_id: int) -> Any:
    kb = kb_selectors.knowledge_base_get(kb_id)
    rows = kb_admin_selectors.document_row_list(knowledge_base_id=kb.pk)
    return {"results": [row.as_json() for row in rows]}


_UPLOAD_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary"},
        **_schema(schemas.DocumentUploadFields)["properties"],
    },
}


@router.post(
    f"{KB}/documents",
    auth=STAFF,
    response=out.answers({202: out.DocumentAccepted}, 413, 415),
    summary="Add a document: JSON {title, text, source_url?} or a multipart `file`",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _schema(schemas.DocumentCreate)},
                MULTIPART: {"schema": _UPLOAD_FORM},
            },
        }
    },
)
def document_create(request: HttpRequest, kb_id: int) -> Status[out.DocumentAccepted]:
    _may_write(request)
    kb = kb_selectors.knowledge_base_get(kb_id)
    ratelimit.rate_limit_hit(*ratelimit.upload_limits(user_id=staff_of(request).pk))
    if request.content_type == MULTIPART:
        limit_upload(request, max_file_bytes=settings.CHATAPP_UPLOAD_MAX_BYTES)
        upload = uploaded_file(request, "file")
        fields = validate(schemas.DocumentUploadFields, request.POST.dict())
        doc, _ = kb_services.document_create(
            knowledge_base=kb,
            data=upload.read(),
            filename=upload.name or "",
            title=fields.title,
            source_url=fields.source_url,
        )
    else:
        body = parse_json(request, schemas.DocumentCreate)
        doc, _ = kb_services.document_create(
            knowledge_base=kb, title=body.title, text=body.text, source_url=body.source_url
        )
    return Status(202, out.DocumentAccepted(id=doc.pk, status=doc.status))


@router.get(
    DOCUMENT,
    auth=STAFF,
    response=out.answers({200: out.DocumentOut}),
    summary="A document's indexing status",
)
def document_detail(request: HttpRequest, document_id: int) -> out.DocumentOut:
    doc = kb_selectors.document_get(document_id)
    return out.DocumentOut(
        id=doc.pk,
        knowledge_base_id=doc.knowledge_base_id,
        title=doc.title,
        status=doc.status,
        chunks=doc.chunk_count,
        error=doc.error or None,
    )


@router.delete(
    DOCUMENT,
    auth=STAFF,
    response=out.answers({200: out.Deleted}),
    summary="Delete a document and its chunks",
)
def document_delete(request: HttpRequest, document_id: int) -> out.Deleted:
    doc = kb_selectors.document_get(document_id)
    _may_write(request)
    kb_services.document_delete(document=doc)
    return out.Deleted(id=document_id, deleted=True)


@router.post(
    f"{DOCUMENT}/retry",
    auth=STAFF,
    response=out.answers({202: out.DocumentAccepted}, 409),
    summary="Index a failed document again",
)
def document_retry(request: HttpRequest, document_id: int) -> Status[out.DocumentAccepted]:
    _may_write(request)
    doc = kb_services.document_retry(document=kb_selectors.document_get(document_id))
    return Status(202, out.DocumentAccepted(id=doc.pk, status=doc.status))


@router.post(
    f"{KB}/search",
    auth=STAFF,
    response=out.answers({200: out.SearchResults}, 415, 503),
    summary="Hybrid search (vector and keyword) over the knowledge base's chunks",
)
def knowledge_base_search(
    request: HttpRequest, kb_id: int, body: schemas.SearchRequest
) -> out.SearchResults:
    from chatapp.knowledge.embedding import PendingQueryVector, embed_query

    timing = timing_for(request)
    embedding: PendingQueryVector | list[float] | None = None
    with timing.step("parse"):
        query = kb_selectors.query_clean(body.query)
        if not any(ch.isalnum() for ch in query):
            raise ApplicationError("invalid_query", "The query has no words to search for.")
        if settings.CHATAPP_SEARCH_EMBED_ALONGSIDE:
            # The vector is computed while the knowledge base lookup and the search's first
            # queries run; "embed" is the wait.
            embedding = PendingQueryVector(query)
        kb = kb_selectors.knowledge_base_get(kb_id)
    if embedding is None:
        with timing.step("embed"):
            embedding = embed_query(query)
    with timing.step("search"):
        hits = kb_selectors.chunk_search_hybrid(
            query=query, embedding=embedding, knowledge_base_ids=[kb.pk], k=body.k
        )
    if isinstance(embedding, PendingQueryVector):
        timing.split("search", "embed", embedding.waited_ms)
    with timing.step("serialize"):
        return out.SearchResults(
            results=[
                out.SearchHit(
                    document_id=h.document_id,
                    chunk_id=h.chunk_id,
                    title=h.title,
                    text=h.text,
                    score=h.score,
                    relevance=h.relevance,
                    similarity=h.similarity,
                    keyword_score=h.keyword_score,
                    found_by=list(h.found_by),
                    heading_path=h.heading_path,
                    anchor=h.anchor,
                )
                for h in hits
            ]
        )


def _curated(item: Any) -> out.CuratedAnswerOut:
    return out.CuratedAnswerOut(
        id=item.pk,
        knowledge_base_id=item.knowledge_base_id,
        question=item.question,
        answer=item.answer,
        is_active=item.is_active,
    )


@router.get(
    f"{KB}/curated-answers",
    auth=STAFF,
    response=out.answers({200: out.CuratedAnswerList}),
    summary="The knowledge base's curated answers",
)
def curated_answer_list(request: HttpRequest, kb_id: int) -> out.CuratedAnswerList:
    kb = kb_selectors.knowledge_base_get(kb_id)
    return out.CuratedAnswerList(results=[_curated(c) for c in kb_curated.curated_answer_list(kb)])


@router.post(
    f"{KB}/curated-answers",
    auth=STAFF,
    response=out.answers({201: out.CuratedAnswerOut}, 415),
    summary="Add a curated answer: a question the bot answers with this text",
)
def curated_answer_create(
    request: HttpRequest, kb_id: int, body: schemas.CuratedAnswerCreate
) -> Status[out.CuratedAnswerOut]:
    from chatapp.knowledge.embedding import query_embedder

    kb = kb_selectors.knowledge_base_get(kb_id)
    _may_write(request)
    item = kb_curated.curated_answer_create(
        knowledge_base=kb, question=body.question, answer=body.answer, embedder=query_embedder()
    )
    return Status(201, _curated(item))


@router.delete(
    "/curated-answers/{int:curated_id}",
    auth=STAFF,
    response=out.answers({200: out.Deleted}),
    summary="Delete a curated answer",
)
def curated_answer_delete(request: HttpRequest, curated_id: int) -> out.Deleted:
    _may_write(request)
    kb_curated.curated_answer_delete(curated_id=curated_id)
    return out.Deleted(id=curated_id, deleted=True)


def _job_accepted(job_id: int, response: HttpResponse) -> Status[Any]:
    response["Location"] = f"/api/v1/imports/{job_id}"
    return Status(202, kb_job_selectors.import_job_progress(job_id).as_json())


_JOB_ACCEPTED = "Stored and queued (Location: the job); bad lines and files are the items' errors"


@router.get(
    f"{KB}/imports",
    auth=STAFF,
    response=out.answers({200: out.ImportJobList}),
    exclude_unset=True,
    summary="The knowledge base's latest import and re-index jobs (without their errors)",
)
def import_job_list(request: HttpRequest, kb_id: int) -> Any:
    kb = kb_selectors.knowledge_base_get(kb_id)
    jobs = kb_job_selectors.import_job_list(knowledge_base_id=kb.pk)
    return {"results": [job.as_json(with_errors=False) for job in jobs]}


@router.post(
    f"{KB}/imports",
    auth=STAFF,
    response=out.answers({202: out.ImportJobOut}, 413, 415),
    exclude_unset=True,
    summary="Add many documents as one import job: JSON lines, a zip, or files",
    description=_JOB_ACCEPTED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {
                    "schema": {
                        "type": "string",
                        "description": "One JSON document a line: {title, text, source_url?}",
                    }
                },
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
                MULTIPART: {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            }
                        },
                    }
                },
            },
        }
    },
)
def import_create(request: HttpRequest, kb_id: int, response: HttpResponse) -> Status[Any]:
    kb = kb_selectors.knowledge_base_get(kb_id)
    _may_write(request)
    staff = staff_of(request)
    ratelimit.rate_limit_hit(*ratelimit.upload_limits(user_id=staff.pk))
    sources, source = bulk_sources(request)
    job = kb_jobs.import_job_submit(
        knowledge_base=kb, sources=sources, source=source, created_by=staff
    )
    return _job_accepted(job.pk, response)


@router.get(
    "/imports/{int:job_id}",
    auth=STAFF,
    response=out.answers({200: out.ImportJobOut}),
    exclude_unset=True,
    summary="An import job's progress and its refused or failed items",
)
def import_job_detail(request: HttpRequest, job_id: int) -> Any:
    return kb_job_selectors.import_job_progress(job_id).as_json()


@router.post(
    f"{KB}/reindex",
    auth=STAFF,
    response=out.answers({202: out.ImportJobOut}, 409),
    exclude_unset=True,
    summary="Index every document again, as a job (admins)",
)
def knowledge_base_reindex(request: HttpRequest, kb_id: int, response: HttpResponse) -> Status[Any]:
    _may_write(request)
    job = kb_jobs.knowledge_base_reindex(
        knowledge_base=kb_selectors.knowledge_base_get(kb_id), created_by=staff_of(request)
    )
    return _job_accepted(job.pk, response)
