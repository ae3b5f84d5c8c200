from __future__ import annotations

import pytest
from django.core.management import call_command

from chatapp.accounts.models import ApiKey, User
from chatapp.accounts.services import (
    API_KEY_TOUCH_INTERVAL,
    api_key_authenticate,
    api_key_create,
)
from tests.factories.accounts import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_api_key_is_stored_hashed_and_authenticates():
    # given
    agent = AgentFactory.create()
    # when
    raw = api_key_create(user=agent)
    # then
    key = ApiKey.objects.get()
    assert raw not in key.key_hash
    assert api_key_authenticate(raw) == agent
    assert api_key_authenticate(raw[:-1] + ("a" if raw[-1] != "a" else "b")) is None
    assert api_key_authenticate("garbage") is None


def test_last_use_is_written_at_most_once_a_minute():
    # given: a key used once, a moment ago
    raw = api_key_create(user=AgentFactory.create())
    api_key_authenticate(raw)
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    # when: used again within the minute
    api_key_authenticate(raw)
    # then: no second write
    assert ApiKey.objects.get().last_used_at == first
    # when: the last use is older than the interval
    ApiKey.objects.update(last_used_at=first - API_KEY_TOUCH_INTERVAL)
    api_key_authenticate(raw)
    # then: it is written again
    again = ApiKey.objects.get().last_used_at
    assert again is not None
    assert again > first - API_KEY_TOUCH_INTERVAL


def test_customer_keys_do_not_authenticate():
    # given
    raw = api_key_create(user=UserFactory.create())
    # then
    assert api_key_authenticate(raw) is None


def test_create_api_key_command_prints_the_key_alone_on_its_last_line(capsys):
    # when
    call_command("create_api_key", "ops", "--role", "admin")
    # then
    out = capsys.readouterr().out.strip().splitlines()
    user = User.objects.get(username="ops")
    assert user.role == User.Role.ADMIN
    assert api_key_authenticate(out[-1]) == user
