"""Assignment passes racing in several threads (each its own Postgres connection, as several
worker processes would): every conversation is assigned exactly once, never to an offline agent,
never past an agent's capacity. The burst of the issue: 50 waiting, 3 online agents with capacity
5; agents close what they get, so later passes give out the rest."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction

from chatapp.assignment.models import AgentPresence, AssignmentSettings, AutoAssignment
from chatapp.assignment.services import assignment_pass
from chatapp.conversations.models import Conversation
from chatapp.conversations.services import conversation_close
from tests.chatapp.assignment.conftest import make_agent, make_waiting

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 4
CAPACITY = 5


def test_racing_passes_assign_each_conversation_exactly_once(passes_requested):
    # given
    AssignmentSettings.objects.create(pk=1, auto_assign=True, default_capacity=CAPACITY)
    online = [make_agent(f"online{i}") for i in range(3)]
    offline = make_agent("offline", status="offline")
    stale = make_agent("stale", seen_s_ago=3600)
    waiting = make_waiting(50)
    over_capacity: list[dict[int, int]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(60):
                with transaction.atomic():  # loads as the pass leaves them, before its commit
                    assignment_pass()
                    loads = Counter(
                        Conversation.objects.filter(status="assigned").values_list(
                            "assignee_id", flat=True
                        )
                    )
                if any(n > CAPACITY for n in loads.values()):
                    over_capacity.append(dict(loads))
                # The agents work: each closes one conversation it holds.
                for agent in online:
                    held = Conversation.objects.filter(status="assigned", assignee=agent).first()
                    if held is not None:
                        conversation_close(conversation=held, by=agent)
                if not Conversation.objects.filter(status__in=("waiting", "assigned")).exists():
                    return
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    # then
    assert errors == []
    per_conversation = Counter(AutoAssignment.objects.values_list("conversation_id", flat=True))
    assert set(per_conversation) == {c.pk for c in waiting}
    assert set(per_conversation.values()) == {1}
    agents = set(AutoAssignment.objects.values_list("agent_id", flat=True))
    assert agents == {a.pk for a in online}
    assert offline.pk not in agents
    assert stale.pk not in agents
    assert over_capacity == []
    assert Conversation.objects.filter(status="closed").count() == 50
    assert AgentPresence.objects.get(user=offline).status == "offline"
