"""The REST API (JSON): conversations, knowledge bases, documents, search, health."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from chatapp.api import schemas
from chatapp.api.bulk import bulk_sources
from chatapp.api.http import api_view, error_response, parse_json
from chatapp.api.openapi import OPENAPI
from chatapp.conversations import selectors as conv_selectors
from chatapp.conversations import services as conv_services
from chatapp.core.errors import ApplicationError, PermissionDenied
from chatapp.core.health import system_health
from chatapp.core.timing import timing_for
from chatapp.knowledge import curated as kb_curated
from chatapp.knowledge import jobs as kb_jobs
from chatapp.knowledge import selectors as kb_selectors
from chatapp.knowledge import services as kb_services
from chatapp.knowledge.selectors import admin as kb_admin_selectors
from chatapp.knowledge.selectors import jobs as kb_job_selectors


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response("not_found", "No such endpoint.", 404)


@api_view(("GET",))
def healthz(request: HttpRequest) -> JsonResponse:
    health = system_health()
    body: dict[str, Any] = {"status": "ok" if health.ok else "unavailable", "checks": health.checks}
    if not health.ok:
        body["missing"] = health.missing
    return JsonResponse(body, status=200 if health.ok else 503)


@api_view(("GET",))
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(OPENAPI)


@api_view(("POST",))
def conversation_create(request: HttpRequest) -> JsonResponse:
    body = parse_json(request, schemas.ConversationCreate)
    conversation, token = conv_services.conversation_create(
        knowledge_base_ids=body.knowledge_base_ids
    )
    return JsonResponse(
        {
            "id": str(conversation.pk),
            "token": token,
            "websocket_url": f"/ws/conversations/{conversation.pk}/?token={token}",
        },
        status=201,
    )


def _conversation_for(request: HttpRequest, conversation_id: str) -> Any:
    conversation = conv_selectors.conversation_get(conversation_id)
    if request.staff is None:  # type: ignore[attr-defined]  # set by api_view
        token = request.headers.get("X-Conversation-Token") or request.GET.get("token")
        if not token:
            auth = request.headers.get("Authorization", "")
            token = auth.partition(" ")[2].strip() if auth.lower().startswith("bearer ") else ""
        if not conv_selectors.conversation_token_valid(conversation, token):
            raise ApplicationError("unauthenticated", "Send the conversation token.", status=401)
    return conversation


@api_view(("GET",), auth="any")
def conversation_detail(request: HttpRequest, conversation_id: str) -> JsonResponse:
    conversation = _conversation_for(request, conversation_id)
    messages = conv_selectors.message_list(conversation)
    assignee = conv_selectors.agent_payload(conversation.assignee)
    return JsonResponse(
        {
            "id": str(conversation.pk),
            "status": conversation.status,
            "assignee": assignee.model_dump() if assignee else None,
            "messages": [
                conv_selectors.message_payload(m).model_dump(mode="json") for m in messages
            ],
        }
    )


@api_view(("POST",), auth="staff")
def conversation_message_create(request: HttpRequest, conversation_id: str) -> JsonResponse:
    body = parse_json(request, schemas.MessageCreate)
    message = conv_services.agent_message_create(
        conversation=conv_selectors.conversation_get(conversation_id),
        agent=request.staff,  # type: ignore[attr-defined]
        text=body.text.strip(),
    )
    return JsonResponse(conv_selectors.message_payload(message).model_dump(mode="json"), status=201)


@api_view(("POST",), auth="staff")
def conversation_assign(request: HttpRequest, conversation_id: str) -> JsonResponse:
    from chatapp.accounts.models import User

    body = parse_json(request, schemas.AssignRequest)
    by = request.staff  # type: ignore[attr-defined]
    agent = by if body.agent_id is None else User.objects.filter(pk=body.agent_id).first()
    if agent is None:
        raise ApplicationError("unknown_agent", "No such agent.", status=404)
    conversation = conv_services.conversation_assign(
        conversation=conv_selectors.conversation_get(conversation_id), agent=agent, by=by
    )
    return JsonResponse(conv_selectors.conversation_summary(conversation).model_dump(mode="json"))


@api_view(("POST",), auth="staff")
def conversation_release(request: HttpRequest, conversation_id: str) -> JsonResponse:
    conversation = conv_services.conversation_release_to_bot(
        conversation=conv_selectors.conversation_get(conversation_id),
        by=request.staff,  # type: ignore[attr-defined]
    )
    return JsonResponse(conv_selectors.conversation_summary(conversation).model_dump(mode="json"))


@api_view(("POST",), auth="staff")
def conversation_close(request: HttpRequest, conversation_id: str) -> JsonResponse:
    conversation = conv_services.conversation_close(
        conversation=conv_selectors.conversation_get(conversation_id),
        by=request.staff,  # type: ignore[attr-defined]
    )
    return JsonResponse(conv_selectors.conversation_summary(conversation).model_dump(mode="json"))


@api_view(("POST",), auth="staff")
def conversation_note_create(request: HttpRequest, conversation_id: str) -> JsonResponse:
    body = parse_json(request, schemas.NoteCreate)
    note = conv_services.note_create(
        conversation=conv_selectors.conversation_get(conversation_id),
        author=request.staff,  # type: ignore[attr-defined]
        text=body.text.strip(),
    )
    return JsonResponse(
        {
            "id": note.pk,
            "text": note.text,
            "author": note.author.username if note.author else None,
            "created_at": note.created_at.isoformat(),
        },
        status=201,
    )


@api_view(("GET", "POST"), auth="staff")
def knowledge_base_collection(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        return JsonResponse(
            {
                "results": [
                    {
                        "id": kb.pk,
                        "name": kb.name,
                        "description": kb.description,
                        "is_default": kb.is_default,
                    }
                    for kb in kb_selectors.knowledge_base_list()
                ]
            }
        )
    if not request.staff.is_admin_role:  # type: ignore[attr-defined]
        raise PermissionDenied("Only admins manage knowledge bases.")
    body = parse_json(request, schemas.KnowledgeBaseCreate)
    kb = kb_services.knowledge_base_create(
        name=body.name, description=body.description, is_default=body.is_default
    )
    return JsonResponse({"id": kb.pk, "name": kb.name}, status=201)


@api_view(("POST",), auth="staff")
def document_create(request: HttpRequest, kb_id: int) -> JsonResponse:
    kb = kb_selectors.knowledge_base_get(kb_id)
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise ApplicationError("invalid_request", 'Send the file in the "file" field.')
        doc, _ = kb_services.document_create(
            knowledge_base=kb,
            data=upload.read(),
            filename=upload.name or "",
            title=request.POST.get("title", ""),
            source_url=request.POST.get("source_url", ""),
        )
    else:
        body = parse_json(request, schemas.DocumentCreate)
        doc, _ = kb_services.document_create(
            knowledge_base=kb, title=body.title, text=body.text, source_url=body.source_url
        )
    return JsonResponse({"id": doc.pk, "status": doc.status}, status=202)


@api_view(("GET", "DELETE"), auth="staff")
def document_detail(request: HttpRequest, document_id: int) -> JsonResponse:
    doc = kb_selectors.document_get(document_id)
    if request.method == "DELETE":
        kb_services.document_delete(document=doc)
        return JsonResponse({"id": document_id, "deleted": True})
    return JsonResponse(
        {
            "id": doc.pk,
            "knowledge_base_id": doc.knowledge_base_id,
            "title": doc.title,
            "status": doc.status,
            "chunks": doc.chunk_count,
            "error": doc.error or None,
        }
    )


@api_view(("POST",), auth="staff")
def document_retry(request: HttpRequest, document_id: int) -> JsonResponse:
    doc = kb_services.document_retry(document=kb_selectors.document_get(document_id))
    return JsonResponse({"id": doc.pk, "status": doc.status}, status=202)


@api_view(("POST",), auth="staff")
def knowledge_base_search(request: HttpRequest, kb_id: int) -> JsonResponse:
    from chatapp.knowledge.embedding import query_embedder

    timing = timing_for(request)
    with timing.step("parse"):
        kb = kb_selectors.knowledge_base_get(kb_id)
        body = parse_json(request, schemas.SearchRequest)
        query = kb_selectors.query_clean(body.query)
        if not any(ch.isalnum() for ch in query):
            raise ApplicationError("invalid_query", "The query has no words to search for.")
    with timing.step("embed"):
        embedding = query_embedder().embed([query])[0].tolist()
    with timing.step("search"):
        hits = kb_selectors.chunk_search_hybrid(
            query=query, embedding=embedding, knowledge_base_ids=[kb.pk], k=body.k
        )
    with timing.step("serialize"):
        return JsonResponse(
            {
                "results": [
                    {
                        "document_id": h.document_id,
                        "chunk_id": h.chunk_id,
                        "title": h.title,
                        "text": h.text,
                        "score": h.score,
                        "relevance": h.relevance,
                        "similarity": h.similarity,
                        "keyword_score": h.keyword_score,
                        "found_by": list(h.found_by),
                        "heading_path": h.heading_path,
                        "anchor": h.anchor,
                    }
                    for h in hits
                ]
            }
        )


def _curated_json(item: Any) -> dict[str, Any]:
    return {
        "id": item.pk,
        "knowledge_base_id": item.knowledge_base_id,
        "question": item.question,
        "answer": item.answer,
        "is_active": item.is_active,
    }


@api_view(("GET", "POST"), auth="staff")
def curated_answer_collection(request: HttpRequest, kb_id: int) -> JsonResponse:
    from chatapp.knowledge.embedding import query_embedder

    kb = kb_selectors.knowledge_base_get(kb_id)
    if request.method == "GET":
        return JsonResponse(
            {"results": [_curated_json(c) for c in kb_curated.curated_answer_list(kb)]}
        )
    if not request.staff.is_admin_role:  # type: ignore[attr-defined]
        raise PermissionDenied("Only admins manage curated answers.")
    body = parse_json(request, schemas.CuratedAnswerCreate)
    item = kb_curated.curated_answer_create(
        knowledge_base=kb, question=body.question, answer=body.answer, embedder=query_embedder()
    )
    return JsonResponse(_curated_json(item), status=201)


@api_view(("DELETE",), auth="admin")
def curated_answer_detail(request: HttpRequest, curated_id: int) -> JsonResponse:
    kb_curated.curated_answer_delete(curated_id=curated_id)
    return JsonResponse({"id": curated_id, "deleted": True})


@api_view(("GET",), auth="staff")
def document_list(request: HttpRequest, kb_id: int) -> JsonResponse:
    kb = kb_selectors.knowledge_base_get(kb_id)
    rows = kb_admin_selectors.document_row_list(knowledge_base_id=kb.pk)
    return JsonResponse({"results": [row.as_json() for row in rows]})


@csrf_exempt  # api_view checks a session's CSRF header itself
def document_collection(request: HttpRequest, kb_id: int) -> HttpResponse:
    """``GET`` lists a knowledge base's documents; ``POST`` adds one."""
    if request.method == "GET":
        return document_list(request, kb_id)
    if request.method == "POST":
        return document_create(request, kb_id)
    return error_response("method_not_allowed", "Use GET, POST.", 405)


def _job_accepted(job_id: int) -> JsonResponse:
    response = JsonResponse(kb_job_selectors.import_job_progress(job_id).as_json(), status=202)
    response["Location"] = f"/api/v1/imports/{job_id}"
    return response


@api_view(("GET", "POST"), auth="staff")
def import_collection(request: HttpRequest, kb_id: int) -> JsonResponse:
    """``GET`` the knowledge base's latest import jobs; ``POST`` many documents as one job."""
    kb = kb_selectors.knowledge_base_get(kb_id)
    if request.method == "GET":
        jobs = kb_job_selectors.import_job_list(knowledge_base_id=kb.pk)
        return JsonResponse({"results": [job.as_json(with_errors=False) for job in jobs]})
    sources, source = bulk_sources(request)
    job = kb_jobs.import_job_submit(
        knowledge_base=kb,
        sources=sources,
        source=source,
        created_by=request.staff,  # type: ignore[attr-defined]  # set by api_view
    )
    return _job_accepted(job.pk)


@api_view(("GET",), auth="staff")
def import_job_detail(request: HttpRequest, job_id: int) -> JsonResponse:
    return JsonResponse(kb_job_selectors.import_job_progress(job_id).as_json())


@api_view(("POST",), auth="admin")
def knowledge_base_reindex(request: HttpRequest, kb_id: int) -> JsonResponse:
    job = kb_jobs.knowledge_base_reindex(
        knowledge_base=kb_selectors.knowledge_base_get(kb_id),
        created_by=request.staff,  # type: ignore[attr-defined]  # set by api_view
    )
    return _job_accepted(job.pk)
