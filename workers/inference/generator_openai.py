"""Generator backed by an OpenAI-compatible HTTP server (vLLM, llama.cpp server, Ollama...)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import httpx
from typing_extensions import override

from workers.inference.base import (
    FINISH_LENGTH,
    FINISH_STOP,
    FinishReason,
    Generator,
    ModelError,
    ReplyStream,
    StopFilter,
)

__all__ = ["OpenAIGenerator"]

MAX_SERVER_STOPS = 4  # the OpenAI API accepts at most 4 stop strings; the rest apply client-side
TOP_LOGPROBS = 20  # the OpenAI maximum: enough for "Yes", "yes", " Yes", "No"... all to appear
CONNECT_TIMEOUT = 10.0  # a server that does not accept a connection in 10 s is down
ERR_UNREACHABLE = "cannot reach the model server at {url}: {error}"
ERR_TIMEOUT = "the model server at {url} did not answer within {timeout:g} s"
ERR_STATUS = "the model server at {url} answered HTTP {status}: {body}"
ERR_PROTOCOL = "the model server at {url} sent a malformed reply: {error}"


class _StatusError(ModelError):
    """The server answered with an HTTP error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _normalise_base_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base if base.endswith("/v1") else f"{base}/v1"


def _yes_no_share(top_logprobs: Sequence[dict[str, Any]]) -> float | None:
    """P(yes) / (P(yes) + P(no)) from one position's top log-probabilities, if either appears."""
    p_yes = p_no = 0.0
    for entry in top_logprobs:
        word = str(entry.get("token", "")).strip().lower()
        probability = math.exp(float(entry.get("logprob", -math.inf)))
        if word == "yes":
            p_yes += probability
        elif word == "no":
            p_no += probability
    if p_yes + p_no <= 0.0:
        return None
    return p_yes / (p_yes + p_no)


def _parse_word(text: str) -> float:
    """Fallback when a server gives no log-probabilities: read the answer word itself."""
    word = text.strip().strip(".!*\"'").lower()
    if word.startswith("yes"):
        return 1.0
    if word.startswith("no"):
        return 0.0
    return 0.5


class OpenAIGenerator(Generator):
    """Talks to ``<base_url>/v1/chat/completions``, streaming with server-sent events.

    Args:
        base_url: The server root, with or without the trailing ``/v1``
            (e.g. ``http://localhost:8000``).
        model: The model name the server knows.
        api_key: Sent as a bearer token when given.
        timeout: Seconds to wait for each read (a streamed reply may take longer in total).
    """

    def __init__(
        self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 60.0
    ) -> None:
        self.base_url = _normalise_base_url(base_url)
        self.model = model
        self.name = model
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
        )

    def close(self) -> None:
        """Closes the HTTP connection pool."""
        self._client.close()

    def _error(self, error: httpx.HTTPError) -> ModelError:
        if isinstance(error, httpx.TimeoutException):
            return ModelError(ERR_TIMEOUT.format(url=self.base_url, timeout=self.timeout))
        return ModelError(ERR_UNREACHABLE.format(url=self.base_url, error=error))

    def _status_error(self, response: httpx.Response) -> _StatusError:
        body = response.read().decode("utf-8", "replace").strip()[:300]
        status = response.status_code
        return _StatusError(ERR_STATUS.format(url=self.base_url, status=status, body=body), status)

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._client.post("/chat/completions", json=payload)
        except httpx.HTTPError as error:
            raise self._error(error) from error
        if response.status_code >= 400:
            raise self._status_error(response)
        try:
            data = response.json()
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
        except (ValueError, TypeError) as error:
            raise ModelError(ERR_PROTOCOL.format(url=self.base_url, error=error)) from error
        return data

    @override
    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
    ) -> ReplyStream:
        """Streams the greedy reply over SSE; see ``Generator.stream_chat``.

        Stop strings go to the server (the first four) and are enforced here too, since
        servers differ in how they honour them.
        """
        stops = StopFilter(stop)
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_new_tokens,
            "temperature": 0,
            "stream": True,
        }
        if stops.stops:
            payload["stop"] = stops.stops[:MAX_SERVER_STOPS]
        text = ""
        finish: FinishReason | None = None
        try:
            with self._client.stream("POST", "/chat/completions", json=payload) as response:
                if response.status_code >= 400:
                    raise self._status_error(response)
                for line in response.iter_lines():
                    done, chunk, reason = self._parse_event(line)
                    if done:
                        break
                    finish = reason or finish
                    text += chunk
                    if delta := stops.feed(text):
                        yield delta
                    if stops.stopped:
                        return FINISH_STOP
        except httpx.HTTPError as error:
            raise self._error(error) from error
        if delta := stops.feed(text, final=True):
            yield delta
        return finish

    def _parse_event(self, line: str) -> tuple[bool, str, FinishReason | None]:
        """``(stream finished, content delta, finish reason)`` for one SSE line."""
        if not line.startswith("data:"):
            return False, "", None  # blank separators, comments (": ping"), event names
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            return True, "", None
        try:
            event = json.loads(data)
            if "error" in event:
                raise ModelError(ERR_STATUS.format(url=self.base_url, status="error", body=data))
            choices = event.get("choices") or [{}]
            content = (choices[0].get("delta") or {}).get("content")
            reason = choices[0].get("finish_reason")
        except (ValueError, AttributeError, TypeError) as error:
            raise ModelError(ERR_PROTOCOL.format(url=self.base_url, error=error)) from error
        # Servers say "length" when max_tokens cut the reply; anything else ended it.
        finish = None if not reason else FINISH_LENGTH if reason == "length" else FINISH_STOP
        return False, str(content) if content else "", finish

    @override
    def yes_probability(self, messages: list[dict[str, str]]) -> float:
        """Scores a yes/no question; see ``Generator.yes_probability``.

        Asks for one token with its top log-probabilities. Servers that do not return
        log-probabilities (or reject the option) are asked again for a short plain reply, which
        scores 1.0 for Yes, 0.0 for No and 0.5 otherwise.
        """
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
        }
        try:
            data = self._post(payload)
        except _StatusError as error:
            # 400/422: the server rejects the logprobs options; anything else is a real failure.
            if error.status not in (400, 422):
                raise
            data = {}
        choice = (data.get("choices") or [{}])[0]
        content = (choice.get("logprobs") or {}).get("content") or []
        if content:
            share = _yes_no_share(content[0].get("top_logprobs") or [content[0]])
            if share is not None:
                return share
        if data and choice.get("message", {}).get("content"):
            return _parse_word(str(choice["message"]["content"]))
        plain = self._post(
            {"model": self.model, "messages": messages, "max_tokens": 3, "temperature": 0}
        )
        message = ((plain.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
        return _parse_word(str(message))
