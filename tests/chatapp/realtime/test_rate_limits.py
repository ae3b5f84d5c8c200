"""Rate limits on the conversation socket (full ASGI app, real Redis channel layer and counters)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from chatapp.config.asgi import application
from chatapp.conversations.models import Message
from tests.factories.conversations import make_conversation

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(forwarded_for: str | None = None) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if forwarded_for:
        headers.append((b"x-forwarded-for", forwarded_for.encode()))
    return headers


async def _socket(
    conversation_id: str, token: str, forwarded_for: str | None = None
) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application,
        f"/ws/conversations/{conversation_id}/?token={token}",
        headers=_headers(forwarded_for),
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def _new_socket(forwarded_for: str | None = None) -> tuple[WebsocketCommunicator, str, str]:
    conversation, token = await sync_to_async(make_conversation)()
    return await _socket(str(conversation.pk), token, forwarded_for), str(conversation.pk), token


def _send(text: str) -> dict[str, str]:
    return {"type": "message.send", "client_msg_id": str(uuid.uuid4()), "text": text}


async def _stored(conversation_id: str) -> list[str]:
    return await sync_to_async(
        lambda: list(
            Message.objects.filter(conversation_id=conversation_id)
            .order_by("pk")
            .values_list("text", flat=True)
        )
    )()


async def test_a_frame_over_the_limit_gets_an_error_the_socket_stays_open_and_later_frames_pass(
    dispatched, rate_limits
):
    # given
    rate_limits(message_connection="2/1s")
    communicator, conversation_id, _ = await _new_socket()
    for text in ("one", "two"):
        await communicator.send_json_to(_send(text))
        assert (await communicator.receive_json_from(timeout=5))["type"] == "message.created"
    # when
    throttled = _send("three")
    await communicator.send_json_to(throttled)
    refused = await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"type": "ping"})
    pong = await communicator.receive_json_from(timeout=5)
    await asyncio.sleep(1.1)
    await communicator.send_json_to(throttled)  # the same frame again, once the window is over
    retried = await communicator.receive_json_from(timeout=5)
    # then
    assert refused == {
        "type": "error",
        "code": "rate_limited",
        "detail": refused["detail"],
        "retry_after": 1,
    }
    assert "message_connection" in refused["detail"]
    assert pong == {"type": "pong"}
    assert retried["type"] == "message.created"
    assert retried["message"]["client_msg_id"] == throttled["client_msg_id"]
    assert await _stored(conversation_id) == ["one", "two", "three"]
    await communicator.disconnect()


async def test_the_token_limit_spans_the_sockets_of_one_conversation(dispatched, rate_limits):
    # given: two tabs of one visitor
    rate_limits(message_connection="5/m", message_token="2/m")
    first, conversation_id, token = await _new_socket()
    second = await _socket(conversation_id, token)
    await first.send_json_to(_send("from tab 1"))
    await second.send_json_to(_send("from tab 2"))
    for socket in (first, second):  # each tab hears both messages
        for _ in range(2):
            assert (await socket.receive_json_from(timeout=5))["type"] == "message.created"
    # when
    await second.send_json_to(_send("one more"))
    refused = await second.receive_json_from(timeout=5)
    # then
    assert refused["code"] == "rate_limited"
    assert "message_token" in refused["detail"]
    assert 59 <= refused["retry_after"] <= 60
    assert sorted(await _stored(conversation_id)) == ["from tab 1", "from tab 2"]
    await first.disconnect()
    await second.disconnect()


async def test_per_address_and_per_token_limits_are_independent(dispatched, rate_limits, settings):
    # given: one proxy in front, so X-Forwarded-For names the visitor's address
    settings.CHATAPP_PROXY_COUNT = 1
    rate_limits(message_token="1/m", message_ip="2/m")
    a, conv_a, _ = await _new_socket("198.51.100.1")
    b, conv_b, _ = await _new_socket("198.51.100.1")
    c, conv_c, _ = await _new_socket("198.51.100.1")
    d, conv_d, _ = await _new_socket("198.51.100.2")
    # when
    replies = {}
    for name, socket in (("a", a), ("a2", a), ("b", b), ("c", c), ("d", d)):
        await socket.send_json_to(_send(name))
        replies[name] = await socket.receive_json_from(timeout=5)
    # then
    assert replies["a"]["type"] == "message.created"
    assert "message_token" in replies["a2"]["detail"]  # a's token is spent, its address is not
    assert replies["b"]["type"] == "message.created"  # another token at the same address
    assert "message_ip" in replies["c"]["detail"]  # the address is spent: 2 per minute
    assert replies["d"]["type"] == "message.created"  # another address
    assert [await _stored(c) for c in (conv_a, conv_b, conv_c, conv_d)] == [["a"], ["b"], [], ["d"]]
    for socket in (a, b, c, d):
        await socket.disconnect()


async def test_every_frame_counts_against_the_frame_limit(dispatched, rate_limits):
    # given
    rate_limits(frame_connection="2/m")
    communicator, _, _ = await _new_socket()
    # when
    await communicator.send_json_to({"type": "ping"})
    await communicator.send_to(text_data="{bad json")
    await communicator.send_json_to({"type": "ping"})
    replies = [await communicator.receive_json_from(timeout=5) for _ in range(3)]
    # then
    assert [r.get("code", r["type"]) for r in replies] == ["pong", "invalid_json", "rate_limited"]
    await communicator.disconnect()
