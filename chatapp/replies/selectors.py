"""Reads for saved replies, and their text filled in for one conversation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from chatapp.accounts.models import User
from chatapp.conversations.models import Conversation, Participant
from chatapp.core.errors import NotFound
from chatapp.replies.models import PLACEHOLDER_RE, VARIABLES, SavedReply

# A visitor is anonymous unless signed in: "Hi {visitor_name}," then reads "Hi there,".
VISITOR_NAME_FALLBACK = "there"
LIST_LIMIT = 200
QUERY_RE = re.compile(r"[a-z0-9_-]{1,64}")


@dataclass(frozen=True)
class ReplyContext:
    """The values of the ``{variables}`` for one conversation and one agent."""

    visitor_name: str
    agent_name: str
    brand_name: str
    conversation_id: str

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in VARIABLES}


def saved_reply_list(*, query: str = "") -> QuerySet[SavedReply]:
    """Saved replies by shortcut, those whose shortcut starts with ``query`` when given."""
    replies = SavedReply.objects.order_by("shortcut")
    prefix = query.strip().lstrip("/").lower()
    if prefix and not QUERY_RE.fullmatch(prefix):
        return replies.none()  # no shortcut has these characters (nor may a NUL reach Postgres)
    if prefix:
        replies = replies.filter(shortcut__startswith=prefix)
    return replies[:LIST_LIMIT]


def saved_reply_get(reply_id: int) -> SavedReply:
    """Raises: NotFound: No such reply."""
    reply = SavedReply.objects.filter(pk=reply_id).first()
    if reply is None:
        raise NotFound("No such saved reply.")
    return reply


def _display_name(user: User | None) -> str:
    if user is None:
        return ""
    return user.first_name.strip() or user.get_full_name().strip() or user.username


def saved_reply_context(*, conversation: Conversation, agent: User) -> ReplyContext:
    """What the variables stand for in ``conversation`` when ``agent`` writes (one query).

    The visitor's name is known only when the visitor was signed in (the visitor participant
    has a user); otherwise it is ``VISITOR_NAME_FALLBACK``.
    """
    visitor = (
        Participant.objects.filter(
            conversation=conversation, role=Participant.Role.VISITOR, user__isnull=False
        )
        .select_related("user")
        .first()
    )
    return ReplyContext(
        visitor_name=_display_name(visitor.user if visitor else None) or VISITOR_NAME_FALLBACK,
        agent_name=_display_name(agent),
        brand_name=settings.CHATAPP_SITE_NAME,
        conversation_id=str(conversation.pk)[:8],
    )


def saved_reply_render(body: str, context: ReplyContext) -> str:
    """``body`` with each known ``{variable}`` replaced; anything else is left as written."""
    values = context.as_dict()
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), body)
