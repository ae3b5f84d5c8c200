"""The ids of the turn being handled, carried by contextvars into every log line.

Set by the consumer (a visitor message) and by each task of a turn (``workers.tasks.observe``),
so one turn can be followed across the web process and the workers by ``turn_id``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar, Token
from typing import Any

turn_id_var: ContextVar[int | None] = ContextVar("turn_id", default=None)
conversation_id_var: ContextVar[str | None] = ContextVar("conversation_id", default=None)


def bind(*, turn_id: int | None = None, conversation_id: Any = None) -> list[Token[Any]]:
    """Set the ids (those given); returns the tokens that ``unbind`` resets."""
    tokens: list[Token[Any]] = []
    if turn_id is not None:
        tokens.append(turn_id_var.set(int(turn_id)))
    if conversation_id is not None:
        tokens.append(conversation_id_var.set(str(conversation_id)))
    return tokens


def unbind(tokens: list[Token[Any]]) -> None:
    for token in reversed(tokens):
        token.var.reset(token)


@contextlib.contextmanager
def bound(*, turn_id: int | None = None, conversation_id: Any = None) -> Iterator[None]:
    tokens = bind(turn_id=turn_id, conversation_id=conversation_id)
    try:
        yield
    finally:
        unbind(tokens)


def ids_from_task_args(args: Any, kwargs: Any) -> tuple[int | None, str | None]:
    """The turn and conversation ids of a turn task's first argument (a stage payload or run id).

    Stage payloads (``TurnRequest``, ``RetrievalResult``, ``DraftAnswer`` as dicts) hold
    ``run_id`` and ``conversation_id``; the watchdog takes the run id alone.
    """
    first = args[0] if args else (kwargs or {}).get("payload")
    if isinstance(first, dict):
        run_id = first.get("run_id")
        conversation_id = first.get("conversation_id")
        return (
            run_id if isinstance(run_id, int) else None,
            str(conversation_id) if conversation_id else None,
        )
    return None, None
