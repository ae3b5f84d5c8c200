"""Login lockout (django-axes) on the staff login page and the Django admin's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

from tests.factories.accounts import AdminFactory, AgentFactory

pytestmark = pytest.mark.django_db

STAFF_LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


def _login(client, url: str, username: str, password: str, ip: str = "10.2.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.parametrize("url", [STAFF_LOGIN, ADMIN_LOGIN])
def test_after_k_failures_even_the_right_password_is_refused_with_429(client, settings, url):
    # given
    settings.AXES_FAILURE_LIMIT = 3
    user = AdminFactory.create(username="root", password="right-pass", is_staff=True)
    failures = [_login(client, url, user.username, "wrong").status_code for _ in range(2)]
    # when
    third = _login(client, url, user.username, "wrong")
    right = _login(client, url, user.username, "right-pass")
    # then
    assert failures == [200, 200]  # the form again, with its error
    assert third.status_code == 429
    assert right.status_code == 429
    assert right["Retry-After"] == str(settings.CHATAPP_LOGIN_COOLOFF_S)
    assert b"Too many failed logins" in right.content
    assert "_auth_user_id" not in client.session


def test_a_success_before_the_limit_resets_the_count(client, settings):
    # given
    settings.AXES_FAILURE_LIMIT = 3
    AgentFactory.create(username="alice", password="right-pass")
    for _ in range(2):
        _login(client, STAFF_LOGIN, "alice", "wrong")
    # when
    ok = _login(client, STAFF_LOGIN, "alice", "right-pass")
    client.logout()
    later = [_login(client, STAFF_LOGIN, "alice", "wrong").status_code for _ in range(2)]
    # then
    assert ok.status_code == 302
    assert later == [200, 200]  # two more failures are allowed again, not locked at the first


def test_the_lockout_ends_after_the_cool_off(client, settings):
    # given
    settings.AXES_FAILURE_LIMIT = 2
    AgentFactory.create(username="alice", password="right-pass")
    for _ in range(2):
        _login(client, STAFF_LOGIN, "alice", "wrong")
    assert _login(client, STAFF_LOGIN, "alice", "right-pass").status_code == 429
    # when: the cool-off has passed since the last failure
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    ok = _login(client, STAFF_LOGIN, "alice", "right-pass")
    # then
    assert ok.status_code == 302
    assert ok["Location"] == "/console/"


def test_a_lockout_is_kept_per_username_and_address(client, settings):
    # given: alice is locked out from one address
    settings.AXES_FAILURE_LIMIT = 2
    AgentFactory.create(username="alice", password="alice-pass")
    AgentFactory.create(username="bob", password="bob-pass")
    for _ in range(2):
        _login(client, STAFF_LOGIN, "alice", "wrong", ip="10.2.0.7")
    # when
    alice_elsewhere = _login(client, STAFF_LOGIN, "alice", "alice-pass", ip="10.2.0.8")
    client.logout()
    bob_same_address = _login(client, STAFF_LOGIN, "bob", "bob-pass", ip="10.2.0.7")
    # then: nobody can lock a colleague out from another machine
    assert alice_elsewhere.status_code == 302
    assert bob_same_address.status_code == 302


def test_a_json_client_gets_the_error_body(client, settings):
    # given
    settings.AXES_FAILURE_LIMIT = 1
    AgentFactory.create(username="alice", password="right-pass")
    _login(client, STAFF_LOGIN, "alice", "wrong")
    # when
    response = client.post(
        STAFF_LOGIN,
        {"username": "alice", "password": "right-pass"},
        REMOTE_ADDR="10.2.0.1",
        HTTP_ACCEPT="application/json",
    )
    # then
    assert response.status_code == 429
    assert response.json() == {
        "error": {
            "code": "locked_out",
            "detail": "Too many failed logins; try again in 15 minutes.",
            "retry_after": 900,
        }
    }
