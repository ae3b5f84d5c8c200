"""The widget over HTTP: the loader, its origin check, the chat frame and the admin page."""

from __future__ import annotations

import gzip
import json

import pytest

from chatapp.widget.models import WidgetOrigin
from chatapp.widget.views import ERR_ORIGIN
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example.com"


def _csp(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


def test_the_loader_is_served_gzipped_to_clients_that_accept_it(client):
    # when
    packed = client.get("/widget.js", HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    plain = client.get("/widget.js")
    # then
    assert packed.status_code == plain.status_code == 200
    assert packed["Content-Type"] == "text/javascript; charset=utf-8"
    assert packed["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain
    assert gzip.decompress(packed.content) == plain.content
    assert b"chatapp widget loader" in plain.content
    assert packed["Cache-Control"] == "public, max-age=300"
    assert packed["Vary"] == "Accept-Encoding"
    assert packed["Cross-Origin-Resource-Policy"] == "cross-origin"


def test_config_admits_an_allowed_origin_with_cors(client):
    # given
    WidgetOrigin.objects.create(origin=SHOP)
    # when
    response = client.get("/widget/config", HTTP_ORIGIN=SHOP)
    # then
    assert response.status_code == 200
    assert response.json() == {"allowed": True}
    assert response["Access-Control-Allow-Origin"] == SHOP
    assert response["Vary"] == "Origin"
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("origin", ["https://evil.example.com", None])
def test_config_refuses_any_other_origin_readably(client, origin):
    # given
    WidgetOrigin.objects.create(origin=SHOP)
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    # when
    response = client.get("/widget/config", **headers)
    # then
    assert response.status_code == 403
    assert response.json() == {"error": {"code": "origin_not_allowed", "detail": ERR_ORIGIN}}
    assert response.get("Access-Control-Allow-Origin") == origin


def test_the_frame_may_be_framed_by_the_allowed_origins_only(client):
    # given
    WidgetOrigin.objects.create(origin=SHOP)
    WidgetOrigin.objects.create(origin="https://*.example.org")
    # when
    response = client.get("/widget/frame/?kb=3,4&title=Help&accent=%2336C")
    # then
    assert response.status_code == 200
    assert _csp(response)["frame-ancestors"] == f"frame-ancestors https://*.example.org {SHOP}"
    assert _csp(response)["script-src"] == "script-src 'self'"  # the rest of the policy stays
    assert "X-Frame-Options" not in response
    body = response.content.decode()
    options = body.split('<script id="chat-options" type="application/json">')[1].split("<")[0]
    assert json.loads(options) == {
        "storage_key": "chatapp.widget.conversation",
        "knowledge_base_ids": [3, 4],
        "accent": "#36c",
    }
    assert '<span class="brand-name">Help</span>' in body
    assert 'id="chat-input"' in body  # the chat page's own composer
    assert "/static/chat/chat.js" in body
    assert "/static/widget/frame.js" in body


def test_with_no_origin_allowed_nobody_may_frame_it(client):
    response = client.get("/widget/frame/")
    assert response.status_code == 200
    assert _csp(response)["frame-ancestors"] == "frame-ancestors 'none'"


@pytest.mark.parametrize(
    ("query", "field"),
    [("kb=1,x", "kb"), ("kb=,", "kb"), ("title=" + "t" * 81, "title"), ("accent=red", "accent")],
)
def test_bad_frame_options_are_a_clear_400(client, query, field):
    # when
    response = client.get(f"/widget/frame/?{query}")
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["detail"]) == (
        "invalid_request",
        "The widget's options are not valid.",
    )
    assert [f["field"] for f in error["fields"]] == [field]


def test_the_settings_page_sends_anonymous_visitors_to_log_in(client):
    response = client.get("/dashboard/widget/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/widget/"


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_only_admins_change_the_allowed_origins(client, role):
    # given
    item = WidgetOrigin.objects.create(origin=SHOP)
    client.force_login(UserFactory.create(username=f"u-{role}", role=role))
    # when
    page = client.get("/dashboard/widget/")
    add = client.post("/dashboard/widget/", {"origin": "https://evil.example.com"})
    delete = client.post(f"/dashboard/widget/{item.pk}/delete/")
    # then
    assert (page.status_code, add.status_code, delete.status_code) == (403, 403, 403)
    assert list(WidgetOrigin.objects.values_list("origin", flat=True)) == [SHOP]


def test_an_admin_allows_a_site_and_sees_it_listed(client, admin_user, django_assert_num_queries):
    # given
    client.force_login(admin_user)
    # when
    added = client.post(
        "/dashboard/widget/", {"origin": "HTTPS://Shop.Example.com/", "note": "Shop"}
    )
    # then
    assert added.status_code == 302
    assert added["Location"] == "/dashboard/widget/"
    with django_assert_num_queries(3):  # session, user, the origins
        page = client.get("/dashboard/widget/")
    body = page.content.decode()
    assert '<tr class="origin-row" data-origin="https://shop.example.com">' in body
    assert "https://shop.example.com may now embed the chat." in body
    assert "http://testserver/widget.js" in body  # the snippet


@pytest.mark.parametrize(
    ("origin", "message"),
    [
        ("shop.example.com", "Enter an origin like"),
        (SHOP, "This origin is already allowed."),
    ],
)
def test_a_bad_or_duplicate_origin_is_shown_on_the_form(client, admin_user, origin, message):
    # given
    WidgetOrigin.objects.create(origin=SHOP)
    client.force_login(admin_user)
    # when
    response = client.post("/dashboard/widget/", {"origin": origin})
    # then
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert WidgetOrigin.objects.count() == 1


def test_an_admin_removes_a_site(client, admin_user):
    # given
    item = WidgetOrigin.objects.create(origin=SHOP)
    client.force_login(admin_user)
    # when
    response = client.post(f"/dashboard/widget/{item.pk}/delete/")
    missing = client.post(f"/dashboard/widget/{item.pk}/delete/", follow=True)
    # then
    assert response.status_code == 302
    assert not WidgetOrigin.objects.exists()
    assert "No such allowed origin." in missing.content.decode()
