"""Seeded fuzz over websocket frames: odd and malformed frames never break a socket.

A few hundred generated frames (random JSON shapes, wrong types, unknown types, huge strings,
deep nesting, NUL and lone surrogates, binary and non-JSON frames) go to a visitor socket, a
staff socket (the agent holding the conversation) and the console socket, through the full
ASGI app. Each frame gets exactly one answer: an ``error`` event with a documented code, a
``pong``, or ``message.created`` for a frame that happened to be valid; never ``server_error``.
The socket stays open, stores exactly the messages it confirmed, and serves a valid frame
afterwards. ``FUZZ_SEED`` makes a failure repeatable.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chatapp.config.asgi import application
from chatapp.conversations.models import Message
from chatapp.conversations.services import conversation_assign
from tests.factories.accounts import AgentFactory
from tests.factories.conversations import make_conversation

pytestmark = pytest.mark.django_db(transaction=True)

SEED = int(os.environ.get("FUZZ_SEED", "20240508"))
FRAMES = 300
HEADERS = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1")]
DOCUMENTED = {
    "invalid_json",
    "invalid_frame",
    "unknown_type",
    "text_required",
    "invalid_text",
    "text_too_long",
    "invalid_client_msg_id",
    "frame_too_large",
    "not_assignee",
    "closed",
}
Frame = tuple[str | None, bytes | None]  # (text, bytes): one of the two


def _scalar(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            rng.randint(-(2**70), 2**70),
            rng.random() * 1e300,
            "",
            " ",
            "\u0000",
            "\ud800",
            "x" * rng.choice([1, 50, 5000, 20_000]),
            "".join(chr(rng.randint(1, 0x10FFFF)) for _ in range(rng.randint(1, 30))),
        ]
    )


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return _scalar(rng)
    if roll < 0.75:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_key(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _key(rng: random.Random) -> str:
    return rng.choice(["type", "text", "client_msg_id", "payload", "extra", "", "Type", "\u0000"])


def _message_send(rng: random.Random) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "message.send"}
    if rng.random() < 0.9:
        frame["text"] = rng.choice(
            [
                _scalar(rng),
                "How long do refunds take?",
                "a\u0000b",
                "lone \ud83d surrogate",
                "x" * 4001,
                "\n\t ",
                "emoji \U0001f600 ok",
            ]
        )
    if rng.random() < 0.5:
        frame["client_msg_id"] = rng.choice(
            [str(uuid.UUID(int=rng.getrandbits(128), version=4)), "abc", 42, None, [], {}]
        )
    if rng.random() < 0.2:
        frame[_key(rng) + "x"] = _value(rng)
    return frame


def _frame(rng: random.Random) -> Frame:
    kind = rng.randrange(9)
    if kind == 0:  # not JSON at all
        return rng.choice(["{not json", "", " ", "[1,", "NaN!", "\u0000", '{"type": "ping"'])[
            : rng.randint(0, 20)
        ] or "}", None
    if kind == 1:  # binary
        return None, rng.randbytes(rng.randint(0, 64))
    if kind == 2:  # deep nesting, inside the size limit
        depth = rng.choice([100, 1000, 5000, 8000])
        return "[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth, None
    if kind == 3:  # far too large
        return json.dumps({"type": "message.send", "text": "y" * 100_000}), None
    if kind == 4:  # any JSON value
        return json.dumps(_value(rng)), None
    if kind == 5:  # an object with an odd type
        return json.dumps({"type": _value(rng), _key(rng): _value(rng)}), None
    if kind == 6:  # an unknown type
        return json.dumps(
            {"type": rng.choice(["message.delete", "claim", "PING", "x" * 500])}
        ), None
    if kind == 7:  # a ping, sometimes with extra fields
        return json.dumps({"type": "ping", **({"x": 1} if rng.random() < 0.5 else {})}), None
    return json.dumps(_message_send(rng)), None


async def _fuzz(communicator: WebsocketCommunicator, seed: int) -> dict[str, int]:
    """Send FRAMES frames; check each answer; return the answers counted by kind or code."""
    rng = random.Random(seed)
    seen: dict[str, int] = {}
    for n in range(FRAMES):
        text, data = _frame(rng)
        if text is not None:
            await communicator.send_to(text_data=text)
        else:
            await communicator.send_to(bytes_data=data)
        reply = await communicator.receive_json_from(timeout=10)
        label = reply.get("code", reply["type"])
        context = f"frame {n} (seed {seed}): {(text or repr(data))[:200]!r} -> {reply}"
        if reply["type"] == "error":
            assert reply["code"] in DOCUMENTED, context
            assert isinstance(reply["detail"], str), context
            assert reply["detail"], context
        else:
            assert reply["type"] in ("pong", "message.created"), context
        seen[label] = seen.get(label, 0) + 1
    return seen


def _stored(conversation_id: str, role: str) -> int:
    return Message.objects.filter(conversation_id=conversation_id, role=role).count()


async def _still_serving(communicator: WebsocketCommunicator, role: str) -> None:
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    if role:
        await communicator.send_json_to({"type": "message.send", "text": "Still there?"})
        created = await communicator.receive_json_from(timeout=5)
        assert (created["type"], created["message"]["role"]) == ("message.created", role)
        assert created["message"]["text"] == "Still there?"
    assert await communicator.receive_nothing(timeout=0.2)  # nothing else queued, not closed


def _holder_session() -> tuple[str, str]:
    conversation, _ = make_conversation()
    holder = AgentFactory.create(username="holder")
    conversation_assign(conversation=conversation, agent=holder, by=holder)
    client = Client()
    client.force_login(holder)
    return str(conversation.pk), client.cookies["sessionid"].value


async def test_a_visitor_socket_survives_a_few_hundred_odd_frames(dispatched):
    # given
    conversation, token = await sync_to_async(make_conversation)()
    communicator = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.pk}/?token={token}", headers=HEADERS
    )
    assert (await communicator.connect(timeout=5))[0]
    # when
    seen = await _fuzz(communicator, SEED)
    # then: every confirmed message is stored once (a resend is confirmed again, not stored)
    stored = await sync_to_async(_stored)(str(conversation.pk), "visitor")
    assert 0 < stored <= seen.get("message.created", 0)
    assert len(seen) >= 8, seen  # the generator reached many kinds of answer
    await _still_serving(communicator, "visitor")
    await communicator.disconnect()


async def test_a_staff_socket_survives_a_few_hundred_odd_frames():
    # given: the agent holding the conversation, logged in
    conversation_id, session = await sync_to_async(_holder_session)()
    communicator = WebsocketCommunicator(
        application,
        f"/ws/conversations/{conversation_id}/",
        headers=[*HEADERS, (b"cookie", f"sessionid={session}".encode())],
    )
    assert (await communicator.connect(timeout=5))[0]
    # when
    seen = await _fuzz(communicator, SEED + 1)
    # then
    stored = await sync_to_async(_stored)(conversation_id, "agent")
    assert stored == seen.get("message.created", 0) > 0  # agents' messages have no resend
    await _still_serving(communicator, "agent")
    await communicator.disconnect()


async def test_the_console_socket_survives_a_few_hundred_odd_frames():
    # given
    _, session = await sync_to_async(_holder_session)()
    communicator = WebsocketCommunicator(
        application,
        "/ws/console/",
        headers=[*HEADERS, (b"cookie", f"sessionid={session}".encode())],
    )
    assert (await communicator.connect(timeout=5))[0]
    # when
    seen = await _fuzz(communicator, SEED + 2)
    # then: only ping is a console frame
    assert set(seen) <= {"pong", "unknown_type", "invalid_frame"}, seen
    await _still_serving(communicator, "")
    await communicator.disconnect()
