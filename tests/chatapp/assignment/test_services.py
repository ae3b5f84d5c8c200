from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from chatapp.assignment.models import AgentPresence, AutoAssignment
from chatapp.assignment.selectors import presence_effective, presence_view
from chatapp.assignment.services import (
    OFFLINE_NOTICE,
    assignment_pass,
    assignment_settings_set,
    presence_capacity_set,
    presence_heartbeat,
    presence_set,
)
from chatapp.conversations.models import Conversation, Message
from chatapp.conversations.services import conversation_close
from chatapp.core.errors import ApplicationError, PermissionDenied
from chatapp.core.tasks import ASSIGN_WAITING
from tests.chatapp.assignment.conftest import make_agent, make_waiting
from tests.factories.accounts import AdminFactory, AgentFactory, UserFactory

pytestmark = pytest.mark.django_db


def _holders() -> Counter[int | None]:
    return Counter(
        Conversation.objects.filter(status="assigned").values_list("assignee_id", flat=True)
    )


def test_a_first_heartbeat_makes_the_agent_online_and_asks_for_a_pass(
    auto_assign, passes_requested, committed
):
    # given
    agent = AgentFactory.create()
    # when
    with committed():
        presence_heartbeat(user=agent)
    # then
    view = presence_view(agent)
    assert (view.status, view.effective_status, view.capacity, view.load) == (
        "online", "online", 5, 0,
    )  # fmt: skip
    assert passes_requested == [ASSIGN_WAITING]


def test_an_agent_without_heartbeats_for_the_timeout_is_offline(settings):
    # given
    settings.CHATAPP_PRESENCE_TIMEOUT_S = 60
    agent = make_agent("quiet", seen_s_ago=61)
    presence = AgentPresence.objects.get(user=agent)
    # then
    assert presence_effective(presence) == "offline"
    assert presence_effective(presence, now=timezone.now() - timedelta(seconds=2)) == "online"


def test_a_heartbeat_while_online_asks_for_no_pass(auto_assign, passes_requested, committed):
    # given
    agent = make_agent("steady")
    # when
    with committed():
        presence_heartbeat(user=agent)
    # then
    assert passes_requested == []


def test_a_heartbeat_after_an_offline_spell_asks_for_a_pass(
    auto_assign, passes_requested, committed
):
    # given
    agent = make_agent("back", seen_s_ago=600)
    # when
    with committed():
        presence_heartbeat(user=agent)
    # then
    assert passes_requested == [ASSIGN_WAITING]


def test_presence_is_for_staff_only():
    # given
    customer = UserFactory.create()
    # when / then
    with pytest.raises(PermissionDenied):
        presence_set(user=customer, status="online")
    with pytest.raises(PermissionDenied):
        presence_heartbeat(user=customer)
    assert not AgentPresence.objects.exists()


def test_an_unknown_status_is_refused():
    # given
    agent = AgentFactory.create()
    # when
    with pytest.raises(ApplicationError) as exc:
        presence_set(user=agent, status="busy")
    # then
    assert exc.value.code == "invalid_request"
    assert not AgentPresence.objects.exists()


def test_handing_off_asks_for_a_pass_only_when_auto_assign_is_on(passes_requested, committed):
    # given: off (the test settings' default)
    with committed():
        make_waiting(1)
    assert passes_requested == []
    # when: on
    assignment_settings_set(auto_assign=True, default_capacity=3)
    passes_requested.clear()
    with committed():
        make_waiting(1)
    # then
    assert passes_requested == [ASSIGN_WAITING]


def test_closing_an_assigned_conversation_asks_for_a_pass(auto_assign, passes_requested, committed):
    # given
    agent = make_agent("closer")
    (conversation,) = make_waiting(1)
    assignment_pass()
    passes_requested.clear()
    # when
    with committed():
        conversation_close(conversation=conversation, by=agent)
    # then
    assert passes_requested == [ASSIGN_WAITING]


def test_the_pass_does_nothing_when_auto_assign_is_off():
    # given
    make_agent("idle")
    make_waiting(2)
    # when
    result = assignment_pass()
    # then
    assert (result.assigned, result.requeued) == ([], [])
    assert Conversation.objects.filter(status="waiting").count() == 2


def test_round_robin_spreads_conversations_and_respects_capacity(auto_assign):
    # given: three online agents with room for 2, 2 and 1; an away one and an offline one
    ann = make_agent("ann", capacity=2)
    ben = make_agent("ben", capacity=2)
    cid = make_agent("cid", capacity=1)
    away = make_agent("away", status="away")
    gone = make_agent("gone", seen_s_ago=3600)
    waiting = make_waiting(7)
    # when
    result = assignment_pass()
    # then: 5 assigned, longest waiting first, turn by turn; 2 still waiting
    assert [agent for _, agent in result.assigned] == [ann.pk, ben.pk, cid.pk, ann.pk, ben.pk]
    assert [c for c, _ in result.assigned] == [str(c.pk) for c in waiting[:5]]
    assert _holders() == {ann.pk: 2, ben.pk: 2, cid.pk: 1}
    assert away.pk not in _holders()
    assert gone.pk not in _holders()
    assert Conversation.objects.filter(status="waiting").count() == 2
    assert AutoAssignment.objects.count() == 5


def test_the_next_pass_starts_with_the_agent_who_waited_longest(auto_assign):
    # given: ann got the last one
    ann = make_agent("ann")
    ben = make_agent("ben")
    make_waiting(1)
    assignment_pass()
    # when
    make_waiting(1)
    result = assignment_pass()
    # then
    assert [agent for _, agent in result.assigned] == [ben.pk]
    assert _holders() == {ann.pk: 1, ben.pk: 1}


def test_the_visitor_and_the_console_see_the_assignment(auto_assign, broadcasts, committed):
    # given
    make_agent("ann")
    (conversation,) = make_waiting(1)
    # when
    with committed():
        assignment_pass()
    # then
    notices = list(
        Message.objects.filter(conversation=conversation, role="system").values_list(
            "text", flat=True
        )
    )
    assert notices[-1] == "ann joined the conversation."
    assigned = [m for _, m in broadcasts if m["type"] == "conversation.assigned"]
    assert [(m["status"], m["assignee"]["username"]) for m in assigned] == [("assigned", "ann")]
    updates = [m for _, m in broadcasts if m["type"] == "conversation.updated"]
    assert updates[-1]["conversation"]["status"] == "assigned"


def test_going_offline_sends_conversations_back_and_on_to_a_colleague(
    auto_assign, broadcasts, committed
):
    # given: ann holds two conversations, ben is online with room for one
    ann = make_agent("ann", capacity=2)
    ben = make_agent("ben", capacity=0)
    first, second = make_waiting(2)
    assignment_pass()
    presence_capacity_set(user=ben, capacity=1, by=AdminFactory.create())
    # when
    presence_set(user=ann, status="offline")
    with committed():
        result = assignment_pass()
    # then: both requeued; ben takes the one that waited longest, the other waits
    assert result.requeued == [str(first.pk), str(second.pk)]
    assert result.assigned == [(str(first.pk), ben.pk)]
    assert _holders() == {ben.pk: 1}
    second.refresh_from_db()
    assert (second.status, second.assignee_id) == ("waiting", None)
    texts = list(
        Message.objects.filter(conversation=first, role="system")
        .order_by("id")
        .values_list("text", flat=True)
    )
    assert texts[-2:] == [OFFLINE_NOTICE.format(agent="ann"), "ben joined the conversation."]
    assigned = [m for _, m in broadcasts if m["type"] == "conversation.assigned"]
    assert [(m["conversation_id"], m["status"]) for m in assigned] == [
        (str(first.pk), "waiting"),
        (str(second.pk), "waiting"),
        (str(first.pk), "assigned"),
    ]


def test_an_agent_whose_heartbeats_stopped_loses_their_conversations(auto_assign, settings):
    # given
    ann = make_agent("ann")
    make_waiting(1)
    assignment_pass()
    AgentPresence.objects.filter(user=ann).update(
        last_seen=timezone.now() - timedelta(seconds=settings.CHATAPP_PRESENCE_TIMEOUT_S + 1)
    )
    # when
    result = assignment_pass()
    # then
    assert len(result.requeued) == 1
    assert result.assigned == []
    assert Conversation.objects.get().status == "waiting"


def test_an_away_agent_keeps_their_conversations_and_gets_no_new_ones(auto_assign):
    # given
    ann = make_agent("ann")
    make_waiting(1)
    assignment_pass()
    # when
    presence_set(user=ann, status="away")
    make_waiting(1)
    result = assignment_pass()
    # then
    assert (result.assigned, result.requeued) == ([], [])
    assert _holders() == {ann.pk: 1}


def test_only_admins_set_capacities():
    # given
    agent = AgentFactory.create()
    # when / then
    with pytest.raises(PermissionDenied):
        presence_capacity_set(user=agent, capacity=9, by=AgentFactory.create())
    assert not AgentPresence.objects.exists()
    presence_capacity_set(user=agent, capacity=9, by=AdminFactory.create())
    assert presence_view(agent).capacity == 9


def test_the_admins_settings_row_wins_over_the_environment(settings):
    # given
    settings.CHATAPP_ASSIGN_DEFAULT_CAPACITY = 7
    agent = make_agent("ann")
    assert presence_view(agent).capacity == 7
    # when
    assignment_settings_set(auto_assign=True, default_capacity=2)
    # then
    assert presence_view(agent).capacity == 2
