"""Answered turns to rate, and saved replies, made through the services the app uses."""

from __future__ import annotations

import uuid

from chatapp.assistant.models import PipelineRun
from chatapp.conversations.models import Conversation, Message
from chatapp.conversations.services import bot_message_create, visitor_message_create


def make_answer(
    conversation: Conversation,
    *,
    question: str = "How long do refunds take?",
    answer: str = "Refunds take 5 to 10 business days [1].",
    with_run: bool = True,
) -> tuple[Message, PipelineRun | None]:
    """A visitor question and the bot's answer to it, linked by a finished turn (its trace)."""
    asked, _ = visitor_message_create(
        conversation=conversation, text=question, client_msg_id=uuid.uuid4()
    )
    run = None
    if with_run:
        run = PipelineRun.objects.create(
            conversation=conversation, question=asked, status=PipelineRun.Status.COMPLETED
        )
    message = bot_message_create(
        conversation=conversation,
        text=answer,
        citations=[],
        review={"verdict": "approved", "confidence": 0.9},
        turn_id=run.pk if run else 0,
    )
    if run is not None:
        run.answer = message
        run.save(update_fields=["answer"])
    return message, run
