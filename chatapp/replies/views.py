"""Saved-reply routes: the JSON API (admins write, staff read) and the admins' management page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from chatapp.accounts import permissions
from chatapp.accounts.decorators import admin_required
from chatapp.api.http import api_view, parse_json
from chatapp.conversations import selectors as conv_selectors
from chatapp.replies import schemas, selectors, services
from chatapp.replies.models import VARIABLES, SavedReply


def _json(reply: SavedReply, text: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": reply.pk,
        "shortcut": reply.shortcut,
        "title": reply.title,
        "body": reply.body,
        "updated_at": reply.updated_at.isoformat(),
    }
    if text is not None:
        data["text"] = text
    return data


def _may(request: HttpRequest, action: permissions.Action) -> None:
    permissions.require(action, request.staff)  # type: ignore[attr-defined]  # set by api_view


@api_view(("GET", "POST"), auth="staff")
def saved_reply_collection(request: HttpRequest) -> JsonResponse:
    """``GET`` lists the replies; ``POST`` adds one (admins).

    ``?q=`` filters by shortcut prefix; ``?conversation_id=`` adds each reply's filled-in ``text``.
    """
    if request.method == "GET":
        _may(request, permissions.Action.SAVED_REPLY_READ)
        replies = selectors.saved_reply_list(query=request.GET.get("q", ""))
        conversation_id = request.GET.get("conversation_id")
        if not conversation_id:
            return JsonResponse({"results": [_json(r) for r in replies]})
        context = selectors.saved_reply_context(
            conversation=conv_selectors.conversation_get(conversation_id),
            agent=request.staff,  # type: ignore[attr-defined]  # set by api_view
        )
        return JsonResponse(
            {
                "results": [
                    _json(r, selectors.saved_reply_render(r.body, context)) for r in replies
                ],
                "variables": context.as_dict(),
            }
        )
    _may(request, permissions.Action.SAVED_REPLY_WRITE)
    body = parse_json(request, schemas.SavedReplyCreate)
    reply = services.saved_reply_create(
        shortcut=body.shortcut,
        title=body.title,
        body=body.body,
        by=request.staff,  # type: ignore[attr-defined]  # set by api_view
    )
    return JsonResponse(_json(reply), status=201)


@api_view(("GET", "PATCH", "DELETE"), auth="staff")
def saved_reply_detail(request: HttpRequest, reply_id: int) -> JsonResponse:
    if request.method == "GET":
        _may(request, permissions.Action.SAVED_REPLY_READ)
        return JsonResponse(_json(selectors.saved_reply_get(reply_id)))
    _may(request, permissions.Action.SAVED_REPLY_WRITE)
    if request.method == "DELETE":
        services.saved_reply_delete(reply_id=reply_id)
        return JsonResponse({"id": reply_id, "deleted": True})
    body = parse_json(request, schemas.SavedReplyUpdate)
    reply = services.saved_reply_update(
        reply_id=reply_id, shortcut=body.shortcut, title=body.title, body=body.body
    )
    return JsonResponse(_json(reply))


@require_safe
@admin_required
def saved_reply_manage(request: HttpRequest) -> HttpResponse:
    """The admins' page: the team's saved replies, a form to add or edit one."""
    context = {"replies": selectors.saved_reply_list(), "variables": VARIABLES}
    return render(request, "replies/manage.html", context)
