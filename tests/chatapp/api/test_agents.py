from __future__ import annotations

import pytest

from chatapp.accounts.services import api_key_create
from chatapp.assignment.models import AgentPresence
from tests.factories.accounts import AdminFactory, AgentFactory

pytestmark = pytest.mark.django_db


def _auth(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=user)}"}


def test_heartbeat_then_toggle_presence(client, settings):
    # given
    agent = AgentFactory.create(username="ann")
    headers = _auth(agent)
    # when
    beat = client.post("/api/v1/agents/me/heartbeat", **headers)
    away = client.put(
        "/api/v1/agents/me/presence", {"status": "away"}, content_type="application/json", **headers
    )
    read = client.get("/api/v1/agents/me/presence", **headers)
    # then
    assert beat.status_code == 200
    body = beat.json()
    assert body["agent"] == {"id": agent.pk, "username": "ann"}
    assert (body["status"], body["effective_status"], body["load"]) == ("online", "online", 0)
    assert body["capacity"] == settings.CHATAPP_ASSIGN_DEFAULT_CAPACITY
    assert body["heartbeat_s"] == settings.CHATAPP_PRESENCE_HEARTBEAT_S
    assert away.json()["status"] == read.json()["status"] == "away"
    assert AgentPresence.objects.get(user=agent).status == "away"


@pytest.mark.parametrize(
    ("body", "code"),
    [({"status": "busy"}, "invalid_request"), ({}, "invalid_request"), ("[", "invalid_json")],
)
def test_a_bad_presence_body_is_refused(client, body, code):
    # given
    headers = _auth(AgentFactory.create())
    # when
    response = client.put(
        "/api/v1/agents/me/presence", body, content_type="application/json", **headers
    )
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not AgentPresence.objects.exists()


def test_admins_set_capacities(client):
    # given
    agent = AgentFactory.create()
    headers = _auth(AdminFactory.create())
    # when
    response = client.put(
        f"/api/v1/agents/{agent.pk}/capacity",
        {"capacity": 2},
        content_type="application/json",
        **headers,
    )
    unknown = client.put(
        "/api/v1/agents/999999/capacity",
        {"capacity": 2},
        content_type="application/json",
        **headers,
    )
    bad = client.put(
        f"/api/v1/agents/{agent.pk}/capacity",
        {"capacity": -1},
        content_type="application/json",
        **headers,
    )
    # then
    assert response.status_code == 200
    assert response.json()["capacity"] == 2
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_agent")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_request")
    assert AgentPresence.objects.get(user=agent).capacity == 2


def test_the_team_list_shows_who_is_online_first(client):
    # given
    ann, ben = AgentFactory.create(username="ann"), AgentFactory.create(username="ben")
    client.post("/api/v1/agents/me/heartbeat", **_auth(ben))
    client.post("/api/v1/agents/me/heartbeat", **_auth(ann))
    client.put(
        "/api/v1/agents/me/presence",
        {"status": "offline"},
        content_type="application/json",
        **_auth(ann),
    )
    # when
    response = client.get("/api/v1/agents", **_auth(ben))
    # then
    assert [
        (r["agent"]["username"], r["effective_status"]) for r in response.json()["results"]
    ] == [
        ("ben", "online"),
        ("ann", "offline"),
    ]
