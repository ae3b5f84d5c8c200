"""The agents' console: the live queue and one conversation's page (actions go through the API)."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from chatapp.accounts import permissions
from chatapp.accounts.decorators import staff_required
from chatapp.accounts.models import User
from chatapp.console import selectors
from chatapp.core.errors import NotFound


@require_safe
@staff_required
def queue(request: HttpRequest) -> HttpResponse:
    """The queue: waiting first, then mine, then with the bot, then the rest."""
    user: User = request.user  # type: ignore[assignment]  # staff_required checked it
    context = {
        "rows": selectors.console_queue(user=user),
        "status_labels": selectors.STATUS_LABELS,
    }
    return render(request, "console/queue.html", context)


@require_safe
@staff_required
def conversation_detail(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """One conversation: messages, notes, and the claim/transfer/release/close/reply actions."""
    user: User = request.user  # type: ignore[assignment]  # staff_required checked it
    try:
        page = selectors.console_conversation(conversation_id, user=user)
    except NotFound:
        raise Http404("No such conversation.") from None
    context = {
        "page": page,
        "conversation": page.conversation,
        "can_reply": page.can_reply,
        # Release, transfer and close a conversation held by someone else (or by nobody).
        "manages_any": permissions.allowed(permissions.Action.CONVERSATION_CLOSE, user),
        "status_labels": selectors.STATUS_LABELS,
    }
    return render(request, "console/conversation.html", context)
