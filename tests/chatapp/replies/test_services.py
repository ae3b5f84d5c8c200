"""Saved-reply services and selectors: validation, duplicates, variables filled in."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from chatapp.conversations.models import Participant
from chatapp.core.errors import Conflict, NotFound
from chatapp.replies import selectors, services
from chatapp.replies.models import SavedReply
from tests.factories.accounts import AgentFactory, UserFactory
from tests.factories.conversations import make_conversation

pytestmark = pytest.mark.django_db


def _reply(
    shortcut: str = "refund", body: str = "Hi {visitor_name}, refunds take 5 days."
) -> SavedReply:
    return services.saved_reply_create(shortcut=shortcut, title="Refund timing", body=body, by=None)


def test_a_reply_is_stored_with_its_shortcut_in_lower_case():
    # when
    reply = services.saved_reply_create(
        shortcut=" Refund ", title=" Refund timing ", body=" Hello. ", by=AgentFactory.create()
    )
    # then
    stored = SavedReply.objects.get()
    assert (stored.shortcut, stored.title, stored.body) == ("refund", "Refund timing", "Hello.")
    assert stored.created_by_id == reply.created_by_id


@pytest.mark.parametrize("shortcut", ["two words", "-dash", "ümlaut", "", "x" * 33, "a/b"])
def test_bad_shortcuts_are_refused(shortcut):
    # when / then
    with pytest.raises(ValidationError) as refused:
        _reply(shortcut=shortcut)
    assert "shortcut" in refused.value.message_dict
    assert SavedReply.objects.count() == 0


def test_an_unknown_variable_is_refused_and_named():
    # when / then
    with pytest.raises(ValidationError) as refused:
        _reply(body="Hi {visitor_name}, your order {order_id} and {ticket}.")
    assert refused.value.message_dict["body"] == [
        "Unknown variable(s) {order_id}, {ticket}; use {visitor_name}, {agent_name}, "
        "{brand_name}, {conversation_id}."
    ]
    assert SavedReply.objects.count() == 0


def test_a_taken_shortcut_is_409_duplicate():
    # given
    _reply()
    # when / then
    with pytest.raises(Conflict) as refused:
        _reply(body="Another.")
    assert refused.value.code == "duplicate"
    assert SavedReply.objects.count() == 1


def test_update_changes_only_the_given_fields_and_checks_them():
    # given
    reply = _reply()
    other = _reply(shortcut="hello", body="Hello!")
    # when
    updated = services.saved_reply_update(reply_id=reply.pk, title="Refunds")
    # then
    assert (updated.shortcut, updated.title) == ("refund", "Refunds")
    with pytest.raises(Conflict):
        services.saved_reply_update(reply_id=reply.pk, shortcut=other.shortcut)
    with pytest.raises(ValidationError):
        services.saved_reply_update(reply_id=reply.pk, body="{nope}")
    reply.refresh_from_db()
    assert (reply.shortcut, reply.body) == ("refund", "Hi {visitor_name}, refunds take 5 days.")
    with pytest.raises(NotFound):
        services.saved_reply_update(reply_id=reply.pk + 100, title="x")


def test_delete_removes_it_and_an_unknown_id_is_not_found():
    # given
    reply = _reply()
    # when
    services.saved_reply_delete(reply_id=reply.pk)
    # then
    assert SavedReply.objects.count() == 0
    with pytest.raises(NotFound):
        services.saved_reply_delete(reply_id=reply.pk)


def test_an_anonymous_visitor_is_there_and_the_agent_is_named(settings):
    # given
    settings.CHATAPP_SITE_NAME = "Lumen & Oak"
    conversation, _ = make_conversation()
    agent = AgentFactory.create(username="alice", first_name="Alice")
    reply = _reply(
        body="Hi {visitor_name}, {agent_name} from {brand_name} here (#{conversation_id})."
    )
    # when
    context = selectors.saved_reply_context(conversation=conversation, agent=agent)
    text = selectors.saved_reply_render(reply.body, context)
    # then
    assert text == f"Hi there, Alice from Lumen & Oak here (#{str(conversation.pk)[:8]})."


def test_a_signed_in_visitor_is_called_by_their_first_name():
    # given
    conversation, _ = make_conversation()
    Participant.objects.filter(conversation=conversation, role="visitor").update(
        user=UserFactory.create(username="carol", first_name="Carol")
    )
    agent = AgentFactory.create(username="bob")  # no first name: the username
    # when
    context = selectors.saved_reply_context(conversation=conversation, agent=agent)
    # then
    assert (context.visitor_name, context.agent_name) == ("Carol", "bob")


def test_render_leaves_other_braces_alone():
    # given
    conversation, _ = make_conversation()
    context = selectors.saved_reply_context(conversation=conversation, agent=AgentFactory.create())
    # when
    text = selectors.saved_reply_render(
        "Use {code} or { visitor_name } or {visitor_name}.", context
    )
    # then
    assert text == "Use {code} or { visitor_name } or there."


def test_the_list_filters_by_shortcut_prefix():
    # given
    for shortcut in ("refund", "refund-late", "hello"):
        _reply(shortcut=shortcut, body="Text.")
    # when / then
    assert [r.shortcut for r in selectors.saved_reply_list(query="/ref")] == [
        "refund",
        "refund-late",
    ]
    assert [r.shortcut for r in selectors.saved_reply_list()] == ["hello", "refund", "refund-late"]
    assert list(selectors.saved_reply_list(query="re\x00f")) == []
