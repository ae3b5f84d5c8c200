"""Who may open which socket, from which page origin, and what staff frames may do.

Through the full ASGI app (session auth middleware, real Postgres, real Redis channel layer).
Refusals are accepted and then closed, so a browser can read 4401/4403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chatapp.accounts.models import User
from chatapp.config.asgi import application
from chatapp.conversations.models import Conversation, Message
from chatapp.conversations.services import conversation_assign
from tests.factories.accounts import AdminFactory, AgentFactory, UserFactory
from tests.factories.conversations import make_conversation

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "http://127.0.0.1"
HOST = (b"host", b"127.0.0.1")


@dataclass
class World:
    conversation_id: str
    token: str
    other_token: str
    cookies: dict[str, str]  # role -> session cookie


def _login(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _world() -> World:
    conversation, token = make_conversation()
    _, other_token = make_conversation()
    holder = AgentFactory.create(username="holder")
    conversation_assign(conversation=conversation, agent=holder, by=holder)
    users = {
        "agent": AgentFactory.create(username="agent"),
        "holder": holder,
        "admin": AdminFactory.create(username="admin"),
        "customer": UserFactory.create(username="customer"),
    }
    return World(str(conversation.pk), token, other_token, {k: _login(u) for k, u in users.items()})


@pytest.fixture
async def world() -> World:
    return await sync_to_async(_world)()


async def _open(
    path: str, *, origin: str | None = SITE, cookie: str | None = None, host: Any = HOST
) -> tuple[WebsocketCommunicator, int | None]:
    """Connect; return the socket and its close code (None when it stays open)."""
    headers = [host]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected  # refusals too are accepted first
    if await communicator.receive_nothing(timeout=0.2):
        return communicator, None
    closed = await communicator.receive_output(timeout=1)
    assert closed["type"] == "websocket.close"
    return communicator, int(closed["code"])


def _conversation_path(world: World, role: str) -> tuple[str, str | None]:
    """The conversation socket's path and session cookie for ``role``."""
    base = f"/ws/conversations/{world.conversation_id}/"
    if role == "visitor":
        return f"{base}?token={world.token}", None
    if role == "other_visitor":
        return f"{base}?token={world.other_token}", None
    return base, world.cookies.get(role)


# --- the matrix's socket rows ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "close_code"),
    [
        ("anonymous", 4401),
        ("visitor", None),
        ("other_visitor", 4401),
        ("agent", None),
        ("holder", None),
        ("admin", None),
        ("customer", 4403),  # logged in, not staff
    ],
)
async def test_conversation_socket_join(world, role, close_code):
    # given
    path, cookie = _conversation_path(world, role)
    # when
    communicator, code = await _open(path, cookie=cookie)
    # then
    assert code == close_code
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("role", "close_code"),
    [
        ("anonymous", 4401),
        ("visitor", 4401),  # a token is no credential here
        ("other_visitor", 4401),
        ("agent", None),
        ("holder", None),
        ("admin", None),
        ("customer", 4403),
    ],
)
async def test_console_socket_join(world, role, close_code):
    # given
    token = {"visitor": world.token, "other_visitor": world.other_token}.get(role)
    path = "/ws/console/" + (f"?token={token}" if token else "")
    # when
    communicator, code = await _open(path, cookie=world.cookies.get(role))
    # then
    assert code == close_code
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("visitor", ("message.created", "visitor")),
        ("agent", ("error", "not_assignee")),
        ("holder", ("message.created", "agent")),
        ("admin", ("error", "not_assignee")),  # an admin takes the conversation over first
    ],
)
async def test_message_send_frame(world, dispatched, role, expected):
    # given
    path, cookie = _conversation_path(world, role)
    communicator, _ = await _open(path, cookie=cookie)
    # when
    await communicator.send_json_to({"type": "message.send", "text": "Hello?"})
    reply = await communicator.receive_json_from(timeout=5)
    # then
    got = (reply["type"], reply["message"]["role"] if "message" in reply else reply["code"])
    assert got == expected
    stored = await sync_to_async(
        lambda: list(Message.objects.filter(text="Hello?").values_list("role", flat=True))
    )()
    assert stored == ([expected[1]] if expected[0] == "message.created" else [])
    await communicator.disconnect()


# --- origins -------------------------------------------------------------------------------------


async def test_a_visitor_without_origin_connects_by_token(world):
    # given: a native app or an integration (no Origin header)
    path, _ = _conversation_path(world, "visitor")
    # when
    communicator, code = await _open(path, origin=None)
    await communicator.send_json_to({"type": "ping"})
    # then
    assert code is None
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("origin", "close_code"),
    [
        ("https://shop.example.com", None),  # listed
        ("https://help.example.org", None),  # https://*.example.org
        ("http://shop.example.com", 4403),  # another scheme is another origin
        ("https://shop.example.com:8443", 4403),  # and another port
        ("https://evil.example.net", 4403),
        ("null", 4403),  # a sandboxed page
        (SITE, None),  # self
        ("http://127.0.0.1:9999", 4403),  # the host, not the port, the socket asked for
    ],
)
async def test_visitor_origins_follow_the_allow_list(world, settings, origin, close_code):
    # given
    settings.CHATAPP_WS_VISITOR_ORIGINS = [
        "self",
        "none",
        "https://shop.example.com",
        "https://*.example.org",
    ]
    path, _ = _conversation_path(world, "visitor")
    # when
    communicator, code = await _open(path, origin=origin)
    # then
    assert code == close_code
    await communicator.disconnect()


async def test_by_default_other_pages_are_refused_and_any_is_a_setting(world, settings):
    # given
    path, _ = _conversation_path(world, "visitor")
    # when
    default, default_code = await _open(path, origin="https://shop.example.com")
    settings.CHATAPP_WS_VISITOR_ORIGINS = ["*"]
    anyone, any_code = await _open(path, origin="https://shop.example.com")
    settings.CHATAPP_WS_VISITOR_ORIGINS = ["self"]
    no_origin, no_origin_code = await _open(path, origin=None)
    # then
    assert (default_code, any_code, no_origin_code) == (4403, None, 4403)
    for communicator in (default, anyone, no_origin):
        await communicator.disconnect()


async def test_a_dns_rebinding_page_is_not_the_site_itself(world):
    # given: a page whose name points at this server (Origin and Host are both its name)
    path, _ = _conversation_path(world, "visitor")
    # when
    communicator, code = await _open(
        path, origin="http://rebind.example", host=(b"host", b"rebind.example")
    )
    # then
    assert code == 4403
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("path", "origin", "close_code"),
    [
        ("conversation", "https://evil.example.net", 4403),
        ("conversation", None, 4403),  # a session cookie needs a browser page of the site
        ("conversation", "https://console.example.com", None),  # CSRF_TRUSTED_ORIGINS
        ("conversation", SITE, None),
        ("console", "https://evil.example.net", 4403),
        ("console", None, 4403),
        ("console", "https://console.example.com", None),
    ],
)
async def test_staff_sockets_need_a_trusted_origin(world, settings, path, origin, close_code):
    # given: visitors may come from anywhere; staff still may not
    settings.CHATAPP_WS_VISITOR_ORIGINS = ["*", "none"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.example.com"]
    url = (
        f"/ws/conversations/{world.conversation_id}/" if path == "conversation" else "/ws/console/"
    )
    # when
    communicator, code = await _open(url, origin=origin, cookie=world.cookies["agent"])
    # then
    assert code == close_code
    await communicator.disconnect()


async def test_a_token_makes_it_a_visitor_socket_even_with_a_staff_session(world, dispatched):
    # given: an agent tries the visitor chat in the browser they are logged in with
    path, _ = _conversation_path(world, "visitor")
    communicator, code = await _open(path, cookie=world.cookies["agent"])
    # when
    await communicator.send_json_to({"type": "message.send", "text": "As a visitor"})
    reply = await communicator.receive_json_from(timeout=5)
    # then
    assert code is None
    assert (reply["type"], reply["message"]["role"]) == ("message.created", "visitor")
    await communicator.disconnect()


async def test_an_unknown_conversation_is_refused_for_staff_too(world):
    # when
    communicator, code = await _open(
        f"/ws/conversations/{uuid.uuid4()}/", cookie=world.cookies["admin"]
    )
    # then
    assert code == 4403
    assert await sync_to_async(Conversation.objects.count)() == 2
    await communicator.disconnect()
