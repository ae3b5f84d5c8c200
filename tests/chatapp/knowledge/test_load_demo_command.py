"""``manage.py load_demo``: demo users only when missing, and never under production settings."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from chatapp.accounts.models import User
from chatapp.knowledge.management.commands.load_demo import DEMO_KB, NO_DEMO_USERS_IN_PRODUCTION
from chatapp.knowledge.models import KnowledgeBase
from tests.factories.accounts import AdminFactory

pytestmark = pytest.mark.django_db


def _load_demo() -> list[str]:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue().splitlines()


def test_a_first_run_creates_the_demo_users(settings, indexed_later):
    # given
    settings.CHATAPP_DEMO_ADMIN_PASSWORD = "admin-demo-pass"
    settings.CHATAPP_DEMO_AGENT_PASSWORD = "agent-demo-pass"
    # when
    lines = _load_demo()
    # then
    assert lines[:2] == ["demo user agent: created", "demo user admin: created"]
    users = {u.username: u for u in User.objects.all()}
    assert sorted(users) == ["admin", "agent"]
    assert users["admin"].role == User.Role.ADMIN
    assert users["admin"].check_password("admin-demo-pass")
    assert users["agent"].role == User.Role.AGENT
    assert users["agent"].check_password("agent-demo-pass")


def test_a_later_run_never_resets_a_changed_password(settings, indexed_later):
    # given: an admin who changed the demo password
    AdminFactory.create(username="admin", password="a-password-the-admin-chose")
    settings.CHATAPP_DEMO_ADMIN_PASSWORD = "admin-demo-pass"
    # when
    lines = _load_demo()
    # then
    assert lines[:2] == ["demo user agent: created", "demo user admin: kept as it is"]
    admin = User.objects.get(username="admin")
    assert admin.check_password("a-password-the-admin-chose")
    assert not admin.check_password("admin-demo-pass")


def test_production_settings_create_no_demo_user(settings, indexed_later):
    # given
    settings.CHATAPP_PRODUCTION = True
    # when
    lines = _load_demo()
    # then
    assert lines[0] == NO_DEMO_USERS_IN_PRODUCTION
    assert User.objects.count() == 0
    assert KnowledgeBase.objects.filter(name=DEMO_KB).count() == 1
