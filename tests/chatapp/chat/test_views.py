from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_chat_page_renders_the_chat_window(client, django_assert_num_queries):
    # given / when: a visitor's page touches no table
    with django_assert_num_queries(0):
        response = client.get("/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "Lumen &amp; Oak Support" in html
    assert 'data-create-url="/api/v1/conversations"' in html
    assert 'data-max-chars="4000"' in html
    assert 'id="chat-input"' in html
    assert 'id="chat-send"' in html
    assert 'id="handoff-btn"' in html
    assert 'id="new-conversation"' in html
    assert 'role="log" aria-live="polite"' in html
    assert '<script type="module" src="/static/chat/chat.js"></script>' in html


def test_chat_page_uses_the_configured_site_name(client, settings):
    # given
    settings.CHATAPP_SITE_NAME = "Acme Help"
    # when
    response = client.get("/")
    # then
    assert response.status_code == 200
    assert "<title>Chat · Acme Help</title>" in response.content.decode()


def test_chat_page_refuses_posts(client):
    # given / when
    response = client.post("/")
    # then
    assert response.status_code == 405


def test_chat_static_modules_are_served(client):
    # given / when
    paths = [
        "/static/chat/chat.js",
        "/static/shared/ws.js",
        "/static/shared/api.js",
        "/static/shared/messages.js",
        "/static/shared/app.css",
        "/static/console/console.js",
        "/static/dashboard/dashboard.js",
    ]
    responses = {path: client.get(path) for path in paths}
    # then
    assert {path: r.status_code for path, r in responses.items()} == dict.fromkeys(paths, 200)
