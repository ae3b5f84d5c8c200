"""Fixtures for the console views: staff users and conversations in each queue group."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chatapp.accounts.models import User
from chatapp.conversations.models import Conversation, Message
from tests.factories.conversations import make_conversation


@pytest.fixture
def make_conv(db):
    """A conversation with a status, an assignee, one visitor message and an activity age."""

    def make(
        *,
        status: str = Conversation.Status.BOT,
        assignee: User | None = None,
        text: str = "Hello",
        minutes_ago: int = 0,
        handoff_reason: str = "",
        handoff_detail: str = "",
    ) -> Conversation:
        conversation, _ = make_conversation()
        Message.objects.create(conversation=conversation, role=Message.Role.VISITOR, text=text)
        Conversation.objects.filter(pk=conversation.pk).update(
            status=status,
            assignee=assignee,
            handoff_reason=handoff_reason,
            handoff_detail=handoff_detail,
            last_message_at=timezone.now() - timedelta(minutes=minutes_ago),
        )
        conversation.refresh_from_db()
        return conversation

    return make
