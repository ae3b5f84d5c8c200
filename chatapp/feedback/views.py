"""Feedback routes: the visitor's ratings (JSON API) and the admins' down-voted answers page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from chatapp.accounts import permissions
from chatapp.accounts.decorators import admin_required
from chatapp.api.http import api_view, parse_json
from chatapp.conversations import selectors as conv_selectors
from chatapp.conversations.models import Conversation
from chatapp.core import ratelimit
from chatapp.core.client_ip import request_client_ip
from chatapp.core.errors import ApplicationError
from chatapp.feedback import schemas, selectors, services

ERR_TOKEN = "Send the conversation token."  # noqa: S105  (a message, not a secret)


def _visitor_conversation(request: HttpRequest, conversation_id: str) -> tuple[Conversation, str]:
    """The conversation and the visitor token that unlocks it; only its visitor rates it.

    Raises:
        NotFound: No such conversation.
        ApplicationError: ``unauthenticated`` (401) without this conversation's token.
        PermissionDenied: Staff (403): ratings are the visitor's word.
    """
    conversation = conv_selectors.conversation_get(conversation_id)
    staff = request.staff  # type: ignore[attr-defined]  # set by api_view
    token = request.headers.get("X-Conversation-Token") or request.GET.get("token") or ""
    visitor = conv_selectors.conversation_token_valid(conversation, token)
    if staff is None and not visitor:
        raise ApplicationError("unauthenticated", ERR_TOKEN, status=401)
    permissions.require(permissions.Action.FEEDBACK_CREATE, staff, visitor=visitor)
    return conversation, token


def _limit(request: HttpRequest, token: str) -> None:
    ratelimit.rate_limit_hit(*ratelimit.feedback_limits(token=token, ip=request_client_ip(request)))


@api_view(("POST",), auth="any")
def answer_feedback_create(
    request: HttpRequest, conversation_id: str, message_id: int
) -> JsonResponse:
    conversation, token = _visitor_conversation(request, conversation_id)
    body = parse_json(request, schemas.AnswerFeedbackCreate)
    _limit(request, token)
    feedback, replaced = services.answer_feedback_set(
        conversation=conversation, message_id=message_id, rating=body.rating, comment=body.comment
    )
    return JsonResponse(
        {
            "message_id": feedback.message_id,
            "rating": feedback.rating,
            "comment": feedback.comment,
            "replaced": replaced,
        },
        status=201,
    )


@api_view(("POST",), auth="any")
def csat_create(request: HttpRequest, conversation_id: str) -> JsonResponse:
    conversation, token = _visitor_conversation(request, conversation_id)
    body = parse_json(request, schemas.CsatCreate)
    _limit(request, token)
    rating, replaced = services.csat_set(
        conversation=conversation, score=body.score, comment=body.comment
    )
    return JsonResponse(
        {
            "conversation_id": str(rating.conversation_id),
            "score": rating.score,
            "comment": rating.comment,
            "replaced": replaced,
        },
        status=201,
    )


@require_safe
@admin_required
def downvoted_answers(request: HttpRequest) -> HttpResponse:
    """Down-voted answers with question, comment, trace link and a curated-answer shortcut."""
    context = {"rows": selectors.downvoted_answer_list(), "csat": selectors.csat_summary()}
    return render(request, "feedback/downvoted.html", context)
