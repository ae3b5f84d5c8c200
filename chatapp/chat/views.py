"""The visitor chat page (the conversation itself runs over the REST API and the websocket)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """Render the chat window; ``static/chat/chat.js`` opens or resumes the conversation."""
    return render(request, "chat/index.html", {"max_chars": settings.CHATAPP_MESSAGE_MAX_CHARS})
