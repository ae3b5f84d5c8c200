"""The beat task: one sweep of turns and documents, reported by what it did."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chatapp.assistant.models import PipelineRun
from chatapp.assistant.services import visitor_message_receive
from tests.factories.conversations import make_conversation
from workers.tasks.sweep import sweep_stuck

pytestmark = pytest.mark.django_db


def test_a_sweep_ends_a_lost_turn_and_reports_it(dispatched, committed, settings):
    # given: a turn started long before its deadline, whose watchdog never came
    with committed():
        conversation, _ = make_conversation()
        visitor_message_receive(
            conversation_id=str(conversation.pk), text="Hello?", client_msg_id=None
        )
    run = PipelineRun.objects.get()
    long_ago = run.started_at - timedelta(seconds=settings.CHATAPP_TURN_DEADLINE_S + 120)
    PipelineRun.objects.filter(pk=run.pk).update(started_at=long_ago)
    # when
    with committed():
        result = sweep_stuck.apply()
    # then
    assert result.get() == {
        "runs_ended": [run.pk],
        "runs_redispatched": [],
        "documents_failed": [],
        "documents_requeued": [],
    }
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
