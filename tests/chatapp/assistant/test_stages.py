from __future__ import annotations

import pytest

from chatapp.assistant.stages import contextual_query
from workers.messages import HistoryTurn, TurnRequest


def _request(question: str, history: list[tuple[str, str]]) -> TurnRequest:
    return TurnRequest(
        run_id=1,
        conversation_id="c",
        message_id=2,
        question=question,
        knowledge_base_ids=[1],
        history=[HistoryTurn(role=r, text=t) for r, t in history],
    )


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        (
            "and for furniture?",
            [("user", "How long do refunds take?"), ("assistant", "5 days.")],
            "How long do refunds take? and for furniture?",
        ),
        (
            "How long does furniture delivery take to the UK?",
            [("user", "Refunds?")],
            "How long does furniture delivery take to the UK?",
        ),
        ("and for furniture?", [], "and for furniture?"),
        ("and for furniture?", [("assistant", "Hello! How can I help?")], "and for furniture?"),
    ],
)
def test_short_follow_ups_search_with_the_previous_question(question, history, expected):
    assert contextual_query(_request(question, history)) == expected
