"""Who may do what: the one table of role x action that views, consumers and services consult.

docs/api.md ("Authorization") prints this table; tests/chatapp/accounts/test_permissions.py
checks that the two agree, and tests/chatapp/test_authz_matrix.py drives every cell over HTTP and
websocket frames.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from chatapp.core.errors import PermissionDenied


class Subject(StrEnum):
    """Who is asking, as far as a decision needs to know.

    A request can be several at once: the agent holding a conversation is ``agent`` and ``holder``.
    """

    ANONYMOUS = "anonymous"  # no token, no session, no API key
    VISITOR = "visitor"  # holds this conversation's token
    AGENT = "agent"
    HOLDER = "holder"  # the staff member this conversation is assigned to
    ADMIN = "admin"


class Action(StrEnum):
    CONVERSATION_CREATE = "conversation.create"
    CHAT_INTERNAL_KNOWLEDGE = "conversation.create.internal_knowledge"
    CONVERSATION_READ = "conversation.read"  # GET it, join its socket
    VISITOR_MESSAGE_SEND = "conversation.visitor_message"
    CONVERSATION_CLAIM = "conversation.claim"
    CONVERSATION_TRANSFER = "conversation.transfer"
    CONVERSATION_RELEASE = "conversation.release"
    CONVERSATION_CLOSE = "conversation.close"
    AGENT_MESSAGE_SEND = "conversation.agent_message"
    NOTE_CREATE = "conversation.note"
    COPILOT_SUGGEST = "conversation.copilot"  # ask for, and read, a suggested reply
    QUEUE_WATCH = "console.watch"
    KNOWLEDGE_READ = "knowledge.read"
    KNOWLEDGE_WRITE = "knowledge.write"
    FEEDBACK_CREATE = "conversation.feedback"  # thumbs on an answer, CSAT once closed
    SAVED_REPLY_READ = "saved_reply.read"
    SAVED_REPLY_WRITE = "saved_reply.write"
    PRESENCE_SET = "agent.presence"  # one's own presence: heartbeat, online/away/offline
    AGENT_CAPACITY_SET = "agent.capacity"  # anyone's capacity for auto-assignment
    AGENTS_READ = "agent.list"  # who is online, with loads
    EXPORT_READ = "export.read"  # CSV exports of conversations and turns
    WEBHOOK_MANAGE = "webhooks.manage"  # endpoints; read and redeliver deliveries


_A, _V, _G, _H, _D = (
    Subject.ANONYMOUS,
    Subject.VISITOR,
    Subject.AGENT,
    Subject.HOLDER,
    Subject.ADMIN,
)

# The matrix. Replies need the holder even for admins: they take the conversation over first
# (a claim), so the visitor always knows who is writing.
MATRIX: dict[Action, frozenset[Subject]] = {
    Action.CONVERSATION_CREATE: frozenset({_A, _V, _G, _D}),
    Action.CHAT_INTERNAL_KNOWLEDGE: frozenset({_G, _D}),
    Action.CONVERSATION_READ: frozenset({_V, _G, _D}),
    Action.VISITOR_MESSAGE_SEND: frozenset({_V}),
    Action.CONVERSATION_CLAIM: frozenset({_G, _D}),
    Action.CONVERSATION_TRANSFER: frozenset({_H, _D}),
    Action.CONVERSATION_RELEASE: frozenset({_H, _D}),
    Action.CONVERSATION_CLOSE: frozenset({_H, _D}),
    Action.AGENT_MESSAGE_SEND: frozenset({_H}),
    Action.NOTE_CREATE: frozenset({_G, _D}),
    # Unlike a reply, a suggestion reaches staff only, so an admin may ask without taking over.
    Action.COPILOT_SUGGEST: frozenset({_H, _D}),
    Action.QUEUE_WATCH: frozenset({_G, _D}),
    Action.KNOWLEDGE_READ: frozenset({_G, _D}),
    Action.KNOWLEDGE_WRITE: frozenset({_D}),
    Action.FEEDBACK_CREATE: frozenset({_V}),
    Action.SAVED_REPLY_READ: frozenset({_G, _D}),
    Action.SAVED_REPLY_WRITE: frozenset({_D}),
    Action.PRESENCE_SET: frozenset({_G, _D}),
    Action.AGENT_CAPACITY_SET: frozenset({_D}),
    Action.AGENTS_READ: frozenset({_G, _D}),
    Action.EXPORT_READ: frozenset({_D}),
    Action.WEBHOOK_MANAGE: frozenset({_D}),
}

ERR_NOT_HOLDER = "Only the agent holding the conversation or an admin may do that."
ERR_FORBIDDEN = {
    Action.CONVERSATION_TRANSFER: ERR_NOT_HOLDER,
    Action.CONVERSATION_RELEASE: ERR_NOT_HOLDER,
    Action.CONVERSATION_CLOSE: ERR_NOT_HOLDER,
    Action.COPILOT_SUGGEST: ERR_NOT_HOLDER,
    Action.KNOWLEDGE_WRITE: "Only admins change knowledge.",
    Action.FEEDBACK_CREATE: "Only the conversation's visitor rates it.",
    Action.SAVED_REPLY_WRITE: "Only admins change saved replies.",
    Action.AGENT_CAPACITY_SET: "Only admins set capacities.",
    Action.EXPORT_READ: "Only admins export.",
    Action.WEBHOOK_MANAGE: "Only admins manage webhooks.",
}


def subjects(
    user: Any = None, *, holder_id: int | None = None, visitor: bool = False
) -> frozenset[Subject]:
    """What the caller counts as.

    Args:
        user: The staff user (API key or session), or None.
        holder_id: The conversation's assignee id, when the action is on a conversation.
        visitor: Whether the caller sent this conversation's visitor token.
    """
    found: set[Subject] = set()
    role = getattr(user, "role", None) if getattr(user, "is_authenticated", False) else None
    if role == "admin":
        found.add(Subject.ADMIN)
    elif role == "agent":
        found.add(Subject.AGENT)
    if found and holder_id is not None and user.pk == holder_id:
        found.add(Subject.HOLDER)
    if visitor:
        found.add(Subject.VISITOR)
    return frozenset(found or {Subject.ANONYMOUS})


def allowed(
    action: Action, user: Any = None, *, holder_id: int | None = None, visitor: bool = False
) -> bool:
    """Whether the caller may do ``action`` (see ``subjects`` for the arguments)."""
    return bool(MATRIX[action] & subjects(user, holder_id=holder_id, visitor=visitor))


def require(
    action: Action, user: Any = None, *, holder_id: int | None = None, visitor: bool = False
) -> None:
    """Raise unless the caller may do ``action``.

    Raises:
        PermissionDenied: ``forbidden`` (403), with the same detail whatever the object's state.
    """
    if not allowed(action, user, holder_id=holder_id, visitor=visitor):
        raise PermissionDenied(ERR_FORBIDDEN.get(action, "You may not do that."))
