"""Writes for conversations: create, messages, hand-off, assignment, notes; broadcast on commit."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.utils import timezone

from chatapp.accounts import permissions
from chatapp.accounts.models import User
from chatapp.conversations.models import Conversation, Message, Note, Participant
from chatapp.conversations.selectors import (
    agent_payload,
    conversation_summary,
    message_payload,
    token_hash,
)
from chatapp.core.errors import ApplicationError, Conflict, PermissionDenied
from chatapp.knowledge.models import KnowledgeBase
from chatapp.observability import metrics
from chatapp.realtime.broadcast import broadcast_on_commit
from chatapp.realtime.events import (
    ConversationAssignedEvent,
    ConversationHandoffEvent,
    ConversationUpdatedEvent,
    MessageCreatedEvent,
)
from chatapp.realtime.groups import agents_group, conversation_group
from chatapp.webhooks import emit as webhooks

ERR_UNKNOWN_KB = "Unknown knowledge base id(s): {ids}."
ERR_FORBIDDEN_KB = "You may not use these knowledge bases."
ERR_NOT_ASSIGNEE = "Take the conversation over before replying."
ERR_CLOSED = "The conversation is closed."


@transaction.atomic
def conversation_create(
    *, knowledge_base_ids: Sequence[int] | None = None, by: User | None = None
) -> tuple[Conversation, str]:
    """Open a conversation for a visitor.

    Args:
        knowledge_base_ids: Knowledge bases the bot may answer from; None means the default ones
            (for an anonymous visitor, the default ones that are public).
        by: The staff member creating it (API key or session), or None for an anonymous visitor.

    Returns:
        The conversation and its visitor token (returned once; only its hash is stored).

    Raises:
        PermissionDenied: An anonymous visitor named a knowledge base that is not public or
            does not exist (one answer for both).
        ApplicationError: ``unknown_knowledge_base`` when staff named an id that does not exist.
    """
    internal_ok = permissions.allowed(permissions.Action.CHAT_INTERNAL_KNOWLEDGE, by)
    reachable = KnowledgeBase.objects.all()
    if not internal_ok:
        reachable = reachable.filter(visibility=KnowledgeBase.Visibility.PUBLIC)
    if knowledge_base_ids is None:
        kbs = list(reachable.filter(is_default=True))
    else:
        wanted = set(knowledge_base_ids)
        kbs = list(reachable.filter(pk__in=wanted))
        missing = wanted - {kb.pk for kb in kbs}
        if missing and not internal_ok:
            # The same answer for an internal id and an unknown one: ids cannot be probed.
            raise PermissionDenied(ERR_FORBIDDEN_KB)
        if missing:
            raise ApplicationError(
                "unknown_knowledge_base", ERR_UNKNOWN_KB.format(ids=sorted(missing))
            )
    token = secrets.token_urlsafe(32)
    conversation = Conversation(token_hash=token_hash(token))
    conversation.full_clean()
    conversation.save()
    conversation.knowledge_bases.set(kbs)
    Participant.objects.create(conversation=conversation, role=Participant.Role.VISITOR)
    webhooks.conversation_created(conversation, knowledge_base_ids=[kb.pk for kb in kbs])
    return conversation, token


def _touch(conversation: Conversation) -> None:
    conversation.last_message_at = timezone.now()
    conversation.save(update_fields=["last_message_at", "updated_at"])


def _announce(conversation: Conversation) -> None:
    broadcast_on_commit(
        agents_group(), ConversationUpdatedEvent(conversation=conversation_summary(conversation))
    )


def _message_add(
    *,
    conversation: Conversation,
    role: str,
    text: str,
    author: User | None = None,
    citations: list[dict[str, object]] | None = None,
    review: dict[str, object] | None = None,
    turn_id: int | None = None,
) -> Message:
    message = Message(
        conversation=conversation,
        role=role,
        text=text,
        author=author,
        citations=citations or [],
        review=review,
    )
    message.full_clean()
    message.save()
    _touch(conversation)
    event = MessageCreatedEvent(message=message_payload(message, turn_id=turn_id))
    broadcast_on_commit(conversation_group(conversation.pk), event)
    webhooks.message_created(conversation.pk, event.message)
    _announce(conversation)
    return message


def visitor_message_create(
    *, conversation: Conversation, text: str, client_msg_id: uuid.UUID | None
) -> tuple[Message, bool]:
    """Store a visitor's message once, even when the client resends it.

    Returns:
        The message and whether it was created now (False for a duplicate ``client_msg_id``).
    """
    if client_msg_id is not None:
        existing = Message.objects.filter(
            conversation=conversation, client_msg_id=client_msg_id
        ).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            message = Message(
                conversation=conversation,
                role=Message.Role.VISITOR,
                text=text,
                client_msg_id=client_msg_id,
            )
            message.full_clean(validate_constraints=False)
            message.save()
    except IntegrityError:  # the same frame raced in on another connection
        return Message.objects.get(conversation=conversation, client_msg_id=client_msg_id), False
    if conversation.status == Conversation.Status.CLOSED:
        # A visitor writing again reopens the conversation with the bot.
        conversation.status = Conversation.Status.BOT
        conversation.save(update_fields=["status", "updated_at"])
    _touch(conversation)
    event = MessageCreatedEvent(message=message_payload(message))
    broadcast_on_commit(conversation_group(conversation.pk), event)
    webhooks.message_created(conversation.pk, event.message)
    _announce(conversation)
    return message, True


@transaction.atomic
def bot_message_create(
    *,
    conversation: Conversation,
    text: str,
    citations: list[dict[str, object]],
    review: dict[str, object],
    turn_id: int,
) -> Message:
    """Store the bot's reviewed answer and broadcast it."""
    return _message_add(
        conversation=conversation,
        role=Message.Role.BOT,
        text=text,
        citations=citations,
        review=review,
        turn_id=turn_id,
    )


@transaction.atomic
def system_message_create(*, conversation: Conversation, text: str) -> Message:
    return _message_add(conversation=conversation, role=Message.Role.SYSTEM, text=text)


@transaction.atomic
def conversation_handoff(
    *, conversation: Conversation, reason: str, detail: str, notice: str
) -> Conversation:
    """Hand a conversation to the human team: the bot goes silent in it.

    Args:
        conversation: Caller should have locked it (select_for_update) when racing is possible.
        reason: Slug, e.g. ``visitor_request``, ``unsupported_answer``, ``pipeline_failed``.
        detail: Sentence for agents.
        notice: System message shown to the visitor.
    """
    if conversation.status == Conversation.Status.BOT:
        conversation.status = Conversation.Status.WAITING
    conversation.handoff_reason = reason
    conversation.handoff_detail = detail
    conversation.save(update_fields=["status", "handoff_reason", "handoff_detail", "updated_at"])
    _message_add(conversation=conversation, role=Message.Role.SYSTEM, text=notice)
    broadcast_on_commit(
        conversation_group(conversation.pk),
        ConversationHandoffEvent(
            conversation_id=str(conversation.pk), reason=reason, detail=detail
        ),
    )
    webhooks.conversation_handoff(conversation.pk, reason=reason, detail=detail)
    metrics.handoff(reason)
    if conversation.status == Conversation.Status.WAITING:
        _request_assignment()
    return conversation


def _request_assignment() -> None:
    # Late import: the assignment app builds on this one (its pass calls conversation_assign).
    from chatapp.assignment.services import assignment_request_on_commit

    assignment_request_on_commit()


def _lock(conversation: Conversation) -> Conversation:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("assignee")
        .get(pk=conversation.pk)
    )


def _assignment_changed(conversation: Conversation, notice: str) -> None:
    _message_add(conversation=conversation, role=Message.Role.SYSTEM, text=notice)
    event = ConversationAssignedEvent(
        conversation_id=str(conversation.pk),
        status=conversation.status,
        assignee=agent_payload(conversation.assignee),
    )
    broadcast_on_commit(conversation_group(conversation.pk), event)
    webhooks.conversation_assigned(event)
    if conversation.status != Conversation.Status.ASSIGNED:  # an agent has room again
        _request_assignment()


@transaction.atomic
def conversation_assign(*, conversation: Conversation, agent: User, by: User) -> Conversation:
    """Give the conversation to ``agent`` (a claim when ``agent`` is ``by``, else a transfer).

    Raises:
        PermissionDenied: ``agent`` is not staff; ``by`` may not claim, or transfers a
            conversation that they do not hold and is not an admin.
        Conflict: ``already_assigned`` when ``by`` claims one a colleague holds, not an admin.
    """
    if not agent.is_staff_member:
        raise PermissionDenied("Only agents and admins can take conversations.")
    conversation = _lock(conversation)
    holder = conversation.assignee
    if agent.pk == by.pk:  # a claim: anyone on the team, unless a colleague holds it
        permissions.require(permissions.Action.CONVERSATION_CLAIM, by)
        if holder is not None and holder.pk != by.pk and not by.is_admin_role:
            raise Conflict("already_assigned", f"{holder.username} already has this conversation.")
    else:
        permissions.require(
            permissions.Action.CONVERSATION_TRANSFER, by, holder_id=conversation.assignee_id
        )
    if holder is not None and holder.pk == agent.pk:
        return conversation
    conversation.assignee = agent
    conversation.status = Conversation.Status.ASSIGNED
    conversation.save(update_fields=["assignee", "status", "updated_at"])
    Participant.objects.get_or_create(
        conversation=conversation, user=agent, role=Participant.Role.AGENT
    )
    notice = (
        f"{agent.username} joined the conversation."
        if agent.pk == by.pk
        else f"{by.username} transferred the conversation to {agent.username}."
    )
    _assignment_changed(conversation, notice)
    return conversation


@transaction.atomic
def conversation_release_to_bot(*, conversation: Conversation, by: User) -> Conversation:
    """Hand the conversation back to the bot.

    Raises:
        PermissionDenied: ``by`` neither holds the conversation nor is an admin.
    """
    conversation = _lock(conversation)
    permissions.require(
        permissions.Action.CONVERSATION_RELEASE, by, holder_id=conversation.assignee_id
    )
    conversation.assignee = None
    conversation.status = Conversation.Status.BOT
    conversation.handoff_reason = ""
    conversation.handoff_detail = ""
    conversation.save(
        update_fields=["assignee", "status", "handoff_reason", "handoff_detail", "updated_at"]
    )
    _assignment_changed(conversation, "You are chatting with our assistant again.")
    return conversation


@transaction.atomic
def conversation_close(*, conversation: Conversation, by: User) -> Conversation:
    """Close the conversation (a new visitor message reopens it with the bot).

    Raises:
        PermissionDenied: ``by`` neither holds the conversation nor is an admin.
    """
    conversation = _lock(conversation)
    permissions.require(
        permissions.Action.CONVERSATION_CLOSE, by, holder_id=conversation.assignee_id
    )
    conversation.status = Conversation.Status.CLOSED
    conversation.save(update_fields=["status", "updated_at"])
    _assignment_changed(conversation, "The conversation was closed.")
    return conversation


@transaction.atomic
def agent_message_create(*, conversation: Conversation, agent: User, text: str) -> Message:
    """Store an agent's reply.

    Raises:
        Conflict: ``not_assignee`` unless ``agent`` holds the conversation.
    """
    conversation = _lock(conversation)
    if conversation.status == Conversation.Status.CLOSED:
        raise Conflict("closed", ERR_CLOSED)
    if not permissions.allowed(
        permissions.Action.AGENT_MESSAGE_SEND, agent, holder_id=conversation.assignee_id
    ):
        raise Conflict("not_assignee", ERR_NOT_ASSIGNEE)
    return _message_add(conversation=conversation, role=Message.Role.AGENT, text=text, author=agent)


@transaction.atomic
def note_create(*, conversation: Conversation, author: User, text: str) -> Note:
    permissions.require(permissions.Action.NOTE_CREATE, author)
    note = Note(conversation=conversation, author=author, text=text)
    note.full_clean()
    note.save()
    return note
