from __future__ import annotations

import uuid

import pytest

from chatapp.conversations.models import Conversation, Message
from chatapp.conversations.selectors import conversation_token_valid
from chatapp.conversations.services import (
    ERR_NOT_ASSIGNEE,
    agent_message_create,
    conversation_assign,
    conversation_create,
    conversation_release_to_bot,
    note_create,
    visitor_message_create,
)
from chatapp.core.errors import ApplicationError, Conflict, PermissionDenied
from tests.factories.accounts import AdminFactory, AgentFactory, UserFactory
from tests.factories.knowledge import KnowledgeBaseFactory

pytestmark = pytest.mark.django_db


def test_conversation_create_uses_default_knowledge_bases_and_hashes_token():
    # given
    default = KnowledgeBaseFactory.create(is_default=True)
    KnowledgeBaseFactory.create(is_default=False)
    # when
    conversation, token = conversation_create()
    # then
    assert list(conversation.knowledge_bases.all()) == [default]
    assert token not in conversation.token_hash
    assert conversation_token_valid(conversation, token)
    assert not conversation_token_valid(conversation, token + "x")
    assert not conversation_token_valid(conversation, "")


def test_conversation_create_tells_staff_which_knowledge_base_ids_are_unknown():
    # given
    kb = KnowledgeBaseFactory.create()
    # when
    with pytest.raises(ApplicationError) as exc:
        conversation_create(knowledge_base_ids=[kb.pk, 999999], by=AgentFactory.create())
    # then
    assert exc.value.code == "unknown_knowledge_base"
    assert exc.value.detail == "Unknown knowledge base id(s): [999999]."
    assert Conversation.objects.count() == 0


@pytest.mark.parametrize("visibility", ["internal", None])
def test_conversation_create_gives_anonymous_visitors_one_refusal_for_internal_and_unknown_ids(
    visibility,
):
    # given
    public = KnowledgeBaseFactory.create()
    other = KnowledgeBaseFactory.create(visibility="internal") if visibility else None
    wanted = other.pk if other else public.pk + 1000
    # when
    with pytest.raises(ApplicationError) as exc:
        conversation_create(knowledge_base_ids=[public.pk, wanted])
    # then
    assert (exc.value.status, exc.value.code) == (403, "forbidden")
    assert exc.value.detail == "You may not use these knowledge bases."
    assert Conversation.objects.count() == 0


def test_conversation_create_by_staff_may_name_internal_knowledge_bases():
    # given
    internal = KnowledgeBaseFactory.create(visibility="internal")
    # when
    conversation, _ = conversation_create(
        knowledge_base_ids=[internal.pk], by=AgentFactory.create()
    )
    # then
    assert list(conversation.knowledge_bases.all()) == [internal]


def test_visitor_message_create_stores_a_resend_once(broadcasts, events_of, committed):
    with committed():
        # given
        conversation, _ = conversation_create()
        msg_id = uuid.uuid4()
        # when
        first, created1 = visitor_message_create(
            conversation=conversation, text="hi", client_msg_id=msg_id
        )
        again, created2 = visitor_message_create(
            conversation=conversation, text="hi", client_msg_id=msg_id
        )
    # then
    assert (created1, created2) == (True, False)
    assert first.pk == again.pk
    assert Message.objects.filter(conversation=conversation).count() == 1
    created = events_of("message.created")
    assert len(created) == 1
    assert created[0]["message"]["client_msg_id"] == str(msg_id)
    assert created[0]["message"]["role"] == "visitor"


def test_agent_must_hold_the_conversation_to_reply(broadcasts, committed):
    with committed():
        # given
        conversation, _ = conversation_create()
        agent, other = AgentFactory.create(), AgentFactory.create()
        conversation_assign(conversation=conversation, agent=agent, by=agent)
        # when
        with pytest.raises(Conflict) as exc:
            agent_message_create(conversation=conversation, agent=other, text="hello")
    # then
    assert exc.value.detail == ERR_NOT_ASSIGNEE
    assert not Message.objects.filter(role=Message.Role.AGENT).exists()


def test_claim_reply_transfer_and_hand_back(broadcasts, events_of, committed):
    with committed():
        # given
        conversation, _ = conversation_create()
        agent, admin = AgentFactory.create(), AdminFactory.create()
        # when
        conversation_assign(conversation=conversation, agent=agent, by=agent)
        reply = agent_message_create(conversation=conversation, agent=agent, text="Hi, I'm here")
        conversation_assign(conversation=conversation, agent=admin, by=admin)
        conversation_release_to_bot(conversation=conversation, by=admin)
    # then
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.BOT
    assert conversation.assignee is None
    assert reply.role == Message.Role.AGENT
    assert reply.author == agent
    assigned = events_of("conversation.assigned")
    assert [e["status"] for e in assigned] == ["assigned", "assigned", "bot"]
    assert [e["assignee"]["username"] if e["assignee"] else None for e in assigned] == [
        agent.username,
        admin.username,
        None,
    ]


def test_agent_cannot_take_a_conversation_held_by_another_agent(broadcasts, committed):
    with committed():
        # given
        conversation, _ = conversation_create()
        first, second = AgentFactory.create(), AgentFactory.create()
        conversation_assign(conversation=conversation, agent=first, by=first)
        # when
        with pytest.raises(Conflict) as exc:
            conversation_assign(conversation=conversation, agent=second, by=second)
    # then
    assert exc.value.code == "already_assigned"
    conversation.refresh_from_db()
    assert conversation.assignee == first


def test_customers_cannot_take_conversations_or_write_notes():
    # given
    conversation, _ = conversation_create()
    customer = UserFactory.create()
    # when / then
    with pytest.raises(PermissionDenied):
        conversation_assign(conversation=conversation, agent=customer, by=customer)
    with pytest.raises(PermissionDenied):
        note_create(conversation=conversation, author=customer, text="x")
    conversation.refresh_from_db()
    assert conversation.assignee is None
    assert conversation.notes.count() == 0
