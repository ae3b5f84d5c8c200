"""Writes for visitor feedback: rate a bot answer, rate a closed conversation (CSAT)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from django.db import transaction

from chatapp.conversations.models import Conversation, Message
from chatapp.core.errors import ApplicationError, Conflict, NotFound
from chatapp.feedback.models import AnswerFeedback, ConversationRating
from chatapp.webhooks import emit as webhooks

logger = logging.getLogger(__name__)

ERR_NO_MESSAGE = "No such message in this conversation."
ERR_NOT_BOT = "Only the assistant's answers can be rated."
ERR_NOT_CLOSED = "The conversation can be rated once it is closed."


@dataclass(frozen=True)
class FeedbackCreated:
    """What was just stored: the payload a ``feedback.created`` webhook would carry."""

    kind: Literal["answer", "csat"]
    conversation_id: str
    replaced: bool  # a second rating overwrote the first
    message_id: int | None = None
    rating: str | None = None  # "up" | "down" (kind "answer")
    score: int | None = None  # 1..5 (kind "csat")
    comment: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "rating": self.rating,
            "score": self.score,
            "comment": self.comment,
            "replaced": self.replaced,
        }


def feedback_created(event: FeedbackCreated) -> None:
    """Announce a stored rating: the ``feedback.created`` webhook.

    Called inside the service's transaction: the deliveries are written in it and sent on commit,
    so a rolled-back rating is never announced.
    """
    logger.info("feedback stored: %s", event.kind)
    webhooks.feedback_created(event.as_json())


@transaction.atomic
def answer_feedback_set(
    *,
    conversation: Conversation,
    message_id: int,
    rating: str,
    comment: str = "",
) -> tuple[AnswerFeedback, bool]:
    """Store the visitor's rating of one bot answer, replacing an earlier one.

    Args:
        conversation: The conversation whose token the caller holds.
        message_id: The rated message; it must be a bot message of ``conversation``.
        rating: ``"up"`` or ``"down"``.
        comment: Optional words from the visitor (kept as given, stripped).

    Returns:
        The stored feedback and whether it replaced an earlier rating.

    Raises:
        NotFound: No such message in this conversation (another conversation's id included).
        ApplicationError: ``not_a_bot_answer`` (400) for a visitor, agent or system message.
    """
    # The answer's row lock serialises two quick clicks (up, then down): the last one wins and
    # the second never collides with the first's insert.
    message = (
        Message.objects.select_for_update().filter(pk=message_id, conversation=conversation).first()
    )
    if message is None:
        raise NotFound(ERR_NO_MESSAGE)
    if message.role != Message.Role.BOT:
        raise ApplicationError("not_a_bot_answer", ERR_NOT_BOT)
    feedback = AnswerFeedback.objects.filter(message=message).first()
    replaced = feedback is not None
    if feedback is None:
        feedback = AnswerFeedback(message=message, conversation=conversation)
    feedback.rating = rating
    feedback.comment = comment.strip()
    feedback.full_clean(validate_unique=False)
    feedback.save()
    feedback_created(
        FeedbackCreated(
            kind="answer",
            conversation_id=str(conversation.pk),
            message_id=message.pk,
            rating=feedback.rating,
            comment=feedback.comment,
            replaced=replaced,
        )
    )
    return feedback, replaced


@transaction.atomic
def csat_set(
    *, conversation: Conversation, score: int, comment: str = ""
) -> tuple[ConversationRating, bool]:
    """Store the visitor's satisfaction score for a closed conversation, replacing an earlier one.

    Args:
        conversation: The conversation whose token the caller holds.
        score: 1 (very unhappy) to 5 (very happy).
        comment: Optional words from the visitor.

    Returns:
        The stored rating and whether it replaced an earlier one.

    Raises:
        Conflict: ``not_closed`` (409) while the conversation is still open.
    """
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if locked.status != Conversation.Status.CLOSED:
        raise Conflict("not_closed", ERR_NOT_CLOSED)
    rating = ConversationRating.objects.filter(conversation=locked).first()
    replaced = rating is not None
    if rating is None:
        rating = ConversationRating(conversation=locked)
    rating.score = score
    rating.comment = comment.strip()
    rating.full_clean(validate_unique=False)
    rating.save()
    feedback_created(
        FeedbackCreated(
            kind="csat",
            conversation_id=str(locked.pk),
            score=rating.score,
            comment=rating.comment,
            replaced=replaced,
        )
    )
    return rating, replaced
