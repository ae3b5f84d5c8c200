"""The conversation socket through the full ASGI app (auth middleware, real Redis channel layer)."""

from __future__ import annotations

import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from chatapp.config.asgi import application
from chatapp.conversations.models import Message
from tests.factories.conversations import make_conversation

pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]


async def _connect(path: str) -> tuple[WebsocketCommunicator, bool, int | None]:
    communicator = WebsocketCommunicator(application, path, headers=HEADERS)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def _refusal(path: str) -> int:
    """The close code of a socket the server accepts, then closes (so a browser sees the code)."""
    communicator, connected, _ = await _connect(path)
    assert connected
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close"
    return int(closed["code"])


async def _open(dispatched) -> tuple[WebsocketCommunicator, str]:
    conversation, token = await sync_to_async(make_conversation)()
    communicator, connected, _ = await _connect(
        f"/ws/conversations/{conversation.pk}/?token={token}"
    )
    assert connected
    return communicator, str(conversation.pk)


async def test_missing_token_is_refused_with_4401():
    # given
    conversation, _ = await sync_to_async(make_conversation)()
    # when
    code = await _refusal(f"/ws/conversations/{conversation.pk}/")
    # then
    assert code == 4401


async def test_wrong_token_or_unknown_conversation_is_refused_with_4401():
    # given
    conversation, token = await sync_to_async(make_conversation)()
    # when
    wrong = await _refusal(f"/ws/conversations/{conversation.pk}/?token=nope")
    unknown = await _refusal(f"/ws/conversations/{uuid.uuid4()}/?token={token}")
    malformed = await _refusal(f"/ws/conversations/not-a-uuid/?token={token}")
    # then: the same code whether the conversation exists or not
    assert (wrong, unknown, malformed) == (4401, 4401, 4401)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('{"text": "hi"}', "invalid_frame"),
        ('{"type": "message.delete"}', "unknown_type"),
        ('{"type": "message.send"}', "text_required"),
        ('{"type": "message.send", "text": "   "}', "text_required"),
        ('{"type": "message.send", "text": 42}', "text_required"),
        (json.dumps({"type": "message.send", "text": "x" * 4001}), "text_too_long"),
        ('{"type": "message.send", "text": "hi", "client_msg_id": "abc"}', "invalid_client_msg_id"),
        ('{"type": "message.send", "text": "hi", "extra": 1}', "invalid_frame"),
    ],
)
async def test_bad_frames_get_an_error_event_and_the_socket_stays_open(dispatched, frame, code):
    # given
    communicator, _ = await _open(dispatched)
    # when
    await communicator.send_to(text_data=frame)
    reply = await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"type": "ping"})
    pong = await communicator.receive_json_from(timeout=5)
    # then
    assert reply["type"] == "error"
    assert reply["code"] == code
    assert reply["detail"]
    assert pong == {"type": "pong"}
    assert await sync_to_async(Message.objects.count)() == 0
    await communicator.disconnect()


async def test_message_is_stored_then_broadcast_and_a_resend_is_not_stored_twice(dispatched):
    # given
    communicator, conversation_id = await _open(dispatched)
    msg_id = str(uuid.uuid4())
    frame = {"type": "message.send", "client_msg_id": msg_id, "text": "How long do refunds take?"}
    # when
    await communicator.send_json_to(frame)
    created = await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to(frame)
    echoed = await communicator.receive_json_from(timeout=5)
    # then
    assert created["type"] == "message.created"
    assert created["message"]["role"] == "visitor"
    assert created["message"]["client_msg_id"] == msg_id
    assert created["message"]["text"] == "How long do refunds take?"
    assert echoed["message"]["id"] == created["message"]["id"]
    assert await sync_to_async(Message.objects.filter(conversation_id=conversation_id).count)() == 1
    assert len(dispatched) == 1
    await communicator.disconnect()


async def test_oversized_frame_is_refused_without_storing(dispatched):
    # given
    communicator, _ = await _open(dispatched)
    # when
    await communicator.send_to(text_data="x" * 100_000)
    reply = await communicator.receive_json_from(timeout=5)
    # then
    assert reply["code"] == "frame_too_large"
    assert await sync_to_async(Message.objects.count)() == 0
    await communicator.disconnect()


async def test_console_socket_refuses_anonymous_users():
    # when
    code = await _refusal("/ws/console/")
    # then
    assert code == 4401
