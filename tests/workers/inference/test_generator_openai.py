"""Tests for workers.inference.generator_openai, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import math
import socket
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from workers.inference.base import ModelError
from workers.inference.generator_openai import OpenAIGenerator

from .conftest import FakeServer

CHAT = [{"role": "user", "content": "Where is my order?"}]


def _chunk(content: str | None, finish: str | None = None) -> str:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return "data: " + json.dumps({"choices": [choice]})


@pytest.mark.parametrize(("server_says", "finish"), [("length", "length"), ("stop", "stop")])
def test_stream_chat_returns_the_servers_finish_reason(
    fake_server: FakeServer, server_says: str, finish: str
) -> None:
    # given: the last chunk says why the server ended the reply
    events = [_chunk("Your order ships"), _chunk(None, server_says), "data: [DONE]"]
    fake_server.handler = lambda request, body: fake_server.reply_sse(request, events)
    stream = OpenAIGenerator(fake_server.url, "qwen").stream_chat(CHAT, max_new_tokens=4)

    # when
    deltas = []
    while True:
        try:
            deltas.append(next(stream))
        except StopIteration as end:
            returned = end.value
            break

    # then
    assert deltas == ["Your order ships"]
    assert returned == finish


def _logprobs_reply(top: dict[str, float], content: str = "Yes") -> dict[str, Any]:
    entries = [{"token": token, "logprob": logprob} for token, logprob in top.items()]
    return {
        "choices": [
            {
                "message": {"role": "assistant", "content": content},
                "logprobs": {
                    "content": [{"token": content, "logprob": -0.1, "top_logprobs": entries}]
                },
            }
        ]
    }


def test_stream_chat_yields_the_sse_deltas(fake_server: FakeServer) -> None:
    # given
    events = [
        ": ping",
        _chunk(None),
        _chunk("Your order "),
        _chunk("ships "),
        _chunk("today."),
        "data: [DONE]",
    ]
    fake_server.handler = lambda request, body: fake_server.reply_sse(request, events)
    generator = OpenAIGenerator(fake_server.url, "qwen", api_key="sk-test")

    # when
    deltas = list(generator.stream_chat(CHAT, max_new_tokens=32, stop=["\nQuestion:"]))

    # then
    assert deltas == ["Your order ", "ships ", "today."]
    [request] = fake_server.requests
    assert request == {
        "path": "/v1/chat/completions",
        "model": "qwen",
        "messages": CHAT,
        "max_tokens": 32,
        "temperature": 0,
        "stream": True,
        "stop": ["\nQuestion:"],
    }
    assert fake_server.headers[0]["Authorization"] == "Bearer sk-test"


def test_stream_chat_enforces_stop_strings_client_side(fake_server: FakeServer) -> None:
    # given
    events = [_chunk("Ships today.\nQue"), _chunk("stion: more"), "data: [DONE]"]
    fake_server.handler = lambda request, body: fake_server.reply_sse(request, events)
    generator = OpenAIGenerator(fake_server.url + "/v1/", "qwen")

    # when
    deltas = list(generator.stream_chat(CHAT, max_new_tokens=32, stop=["\nQuestion:"]))

    # then
    assert deltas == ["Ships today."]
    assert fake_server.requests[0]["path"] == "/v1/chat/completions"
    assert "Authorization" not in fake_server.headers[0]


def test_stream_chat_maps_http_500_to_model_error(fake_server: FakeServer) -> None:
    # given
    fake_server.handler = lambda request, body: fake_server.reply_json(
        request, 500, {"error": "out of memory"}
    )
    generator = OpenAIGenerator(fake_server.url, "qwen")

    # when / then
    with pytest.raises(ModelError) as raised:
        list(generator.stream_chat(CHAT, max_new_tokens=8))
    assert str(raised.value) == (
        f'the model server at {fake_server.url}/v1 answered HTTP 500: {{"error": "out of memory"}}'
    )


def test_stream_chat_maps_an_error_event_to_model_error(fake_server: FakeServer) -> None:
    # given
    events = [_chunk("Hi"), 'data: {"error": {"message": "overloaded"}}']
    fake_server.handler = lambda request, body: fake_server.reply_sse(request, events)
    generator = OpenAIGenerator(fake_server.url, "qwen")

    # when / then
    with pytest.raises(ModelError, match="overloaded"):
        list(generator.stream_chat(CHAT, max_new_tokens=8))


def test_connection_refused_raises_a_clear_model_error() -> None:
    # given
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    generator = OpenAIGenerator(f"http://127.0.0.1:{port}", "qwen", timeout=2.0)

    # when / then
    with pytest.raises(
        ModelError, match=rf"cannot reach the model server at http://127.0.0.1:{port}/v1"
    ):
        list(generator.stream_chat(CHAT, max_new_tokens=8))


def test_yes_probability_uses_top_logprobs(fake_server: FakeServer) -> None:
    # given
    top = {"Yes": math.log(0.6), " yes": math.log(0.1), "No": math.log(0.2), "Maybe": -1.0}
    fake_server.handler = lambda request, body: fake_server.reply_json(
        request, 200, _logprobs_reply(top)
    )
    generator = OpenAIGenerator(fake_server.url, "qwen")

    # when
    probability = generator.yes_probability(CHAT)

    # then
    assert probability == pytest.approx(0.7 / 0.9)
    assert fake_server.requests[0]["logprobs"] is True
    assert fake_server.requests[0]["top_logprobs"] == 20
    assert fake_server.requests[0]["max_tokens"] == 1


def test_yes_probability_parses_the_word_without_logprobs(fake_server: FakeServer) -> None:
    # given
    reply = {"choices": [{"message": {"role": "assistant", "content": "No."}}]}
    fake_server.handler = lambda request, body: fake_server.reply_json(request, 200, reply)
    generator = OpenAIGenerator(fake_server.url, "qwen")

    # when
    probability = generator.yes_probability(CHAT)

    # then
    assert probability == 0.0
    assert len(fake_server.requests) == 1


def test_yes_probability_retries_plainly_when_logprobs_are_rejected(
    fake_server: FakeServer,
) -> None:
    # given
    def handle(request: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if "logprobs" in body:
            fake_server.reply_json(request, 400, {"error": "logprobs not supported"})
        else:
            reply = {"choices": [{"message": {"role": "assistant", "content": "Yes"}}]}
            fake_server.reply_json(request, 200, reply)

    fake_server.handler = handle
    generator = OpenAIGenerator(fake_server.url, "qwen")

    # when
    probability = generator.yes_probability(CHAT)

    # then
    assert probability == 1.0
    assert [("logprobs" in request) for request in fake_server.requests] == [True, False]


def test_yes_probability_maps_http_500_to_model_error(fake_server: FakeServer) -> None:
    # given
    fake_server.handler = lambda request, body: fake_server.reply_json(request, 500, {})
    generator = OpenAIGenerator(fake_server.url, "qwen")

    # when / then
    with pytest.raises(ModelError, match="answered HTTP 500"):
        generator.yes_probability(CHAT)
    assert len(fake_server.requests) == 1
