"""The retriever's stage over real Postgres search: parts of a question, vague questions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from typing_extensions import override

from chatapp.knowledge.models import EMBEDDING_DIM
from tests.factories.knowledge import ChunkFactory, DocumentFactory, KnowledgeBaseFactory
from workers.inference.base import Embedder
from workers.inference.questions import CLARIFY_PREFIX
from workers.messages import HistoryTurn, TurnRequest

# Each word names an axis; a text's vector mixes the axes of its words (a pure-logic stand-in
# for the model: similar wording, similar vector).
AXES = {"password": 0, "reset": 0, "plus": 1, "cost": 1, "refund": 2, "refunds": 2}
AXES |= {"delivery": 3, "long": 4, "take": 4}


def vector(text: str) -> list[float]:
    v = np.full(EMBEDDING_DIM, 1e-3)
    for word in text.lower().replace("?", " ").split():
        if word in AXES:
            v[AXES[word]] += 1.0
    return (v / np.linalg.norm(v)).tolist()


class AxisEmbedder(Embedder):
    name = "axes"
    dim = EMBEDDING_DIM

    @override
    def embed(self, texts: Sequence[str], *, batch_size: int | None = None):
        return np.array([vector(t) for t in texts], dtype=np.float32)


def _chunk(kb, title: str, text: str) -> int:
    document = DocumentFactory.create(knowledge_base=kb, title=title)
    return ChunkFactory.create(document=document, text=text, embedding=vector(text)).pk


def _request(kb, question: str, history: list[HistoryTurn] | None = None) -> TurnRequest:
    return TurnRequest(
        run_id=1,
        conversation_id="c",
        message_id=1,
        question=question,
        knowledge_base_ids=[kb.pk],
        history=history or [],
    )


@pytest.mark.django_db
def test_each_part_of_a_question_is_searched_and_cited_on_its_own():
    # given
    from chatapp.assistant.stages.retrieval import retrieve

    kb = KnowledgeBaseFactory.create()
    reset = _chunk(kb, "Reset your password", "To reset your password use the reset link.")
    plus = _chunk(kb, "Lumen Plus", "Lumen Plus cost is 4.99 a month. Plus members save.")

    # when
    result = retrieve(
        _request(kb, "how do I reset my password and what does plus cost?"),
        embedder=AxisEmbedder(),
    )

    # then
    assert [p.text for p in result.parts] == ["how do I reset my password", "what does plus cost?"]
    assert all(p.answerable for p in result.parts)
    by_ref = {p.ref: p.chunk_id for p in result.passages}
    assert by_ref[result.parts[0].refs[0]] == reset
    assert by_ref[result.parts[1].refs[0]] == plus
    assert sorted(by_ref) == list(range(1, len(by_ref) + 1))  # numbered once, from 1
    assert len(set(by_ref.values())) == len(by_ref)  # each chunk once
    assert result.nothing_relevant is False
    assert result.search_query == "how do I reset my password | what does plus cost?"


@pytest.mark.django_db
def test_a_part_nothing_relevant_was_found_for_is_kept_apart():
    # given
    from chatapp.assistant.stages.retrieval import retrieve

    kb = KnowledgeBaseFactory.create()
    _chunk(kb, "Reset your password", "To reset your password use the reset link.")

    # when
    result = retrieve(
        _request(kb, "how do I reset my password and what do thermostats weigh?"),
        embedder=AxisEmbedder(),
    )

    # then
    assert [(p.text, p.answerable) for p in result.parts] == [
        ("how do I reset my password", True),
        ("what do thermostats weigh?", False),
    ]
    assert result.parts[1].refs == []
    assert [p.title for p in result.passages] == ["Reset your password"]


@pytest.mark.django_db
def test_a_vague_question_over_several_topics_gets_a_clarifying_question_once():
    # given: two documents that answer "how long does it take" equally well
    from chatapp.assistant.stages.retrieval import retrieve

    kb = KnowledgeBaseFactory.create()
    _chunk(kb, "Refund timing", "How long a refund will take.")
    _chunk(kb, "Delivery times", "How long delivery will take.")

    # when
    first = retrieve(_request(kb, "how long does it take?"), embedder=AxisEmbedder())
    again = retrieve(
        _request(
            kb,
            "how long does it take?",
            history=[
                HistoryTurn(role="user", text="how long does it take?"),
                HistoryTurn(role="assistant", text=first.clarify),
            ],
        ),
        embedder=AxisEmbedder(),
    )

    # then
    assert first.clarify.startswith(CLARIFY_PREFIX)
    assert "“Refund timing”" in first.clarify
    assert "“Delivery times”" in first.clarify
    assert again.clarify == ""  # asked once already: answer instead
    assert again.passages


def _two_kb_request(kbs, question: str) -> TurnRequest:
    return TurnRequest(
        run_id=1,
        conversation_id="c",
        message_id=1,
        question=question,
        knowledge_base_ids=[kb.pk for kb in kbs],
    )


@pytest.mark.django_db
def test_a_question_goes_to_the_knowledge_base_that_answers_it_and_the_trace_says_why():
    # given: a help centre about refunds and delivery, a handbook about accounts
    from chatapp.assistant.stages.retrieval import retrieve

    shop = KnowledgeBaseFactory.create(name="Shop help")
    accounts = KnowledgeBaseFactory.create(name="Accounts handbook")
    refund = _chunk(shop, "Refunds", "Refunds take 5 days. Refunds go to your card.")
    _chunk(shop, "Delivery", "Delivery takes 3 days.")
    _chunk(accounts, "Passwords", "To reset a password use the reset link. Plus cost is 4.99.")

    # when
    result = retrieve(_two_kb_request([shop, accounts], "how long do refunds take?"),
                      embedder=AxisEmbedder())  # fmt: skip

    # then: only the shop's passages, and both bases' evidence in the message
    assert {p.chunk_id for p in result.passages} >= {refund}
    assert {p.title for p in result.passages} <= {"Refunds", "Delivery"}
    chosen = {r.name: r.chosen for r in result.routes}
    assert chosen == {"Shop help": True, "Accounts handbook": False}
    assert result.routes[0].name == "Shop help"
    assert result.routes[0].relevance > result.routes[1].relevance


@pytest.mark.django_db
def test_each_part_of_a_question_is_routed_on_its_own():
    # given
    from chatapp.assistant.stages.retrieval import retrieve

    shop = KnowledgeBaseFactory.create(name="Shop help")
    accounts = KnowledgeBaseFactory.create(name="Accounts handbook")
    _chunk(shop, "Refunds", "Refunds take 5 days.")
    _chunk(accounts, "Passwords", "To reset your password use the reset link.")

    # when
    result = retrieve(
        _two_kb_request(
            [shop, accounts], "how do I reset my password and how long do refunds take?"
        ),
        embedder=AxisEmbedder(),
    )

    # then: the first part went to the handbook, the second to the shop
    assert len(result.parts) == 2
    routed = [[r.name for r in part.routes if r.chosen] for part in result.parts]
    assert routed == [["Accounts handbook"], ["Shop help"]]
    assert result.routes == []  # recorded per part
    titles = {p.ref: p.title for p in result.passages}
    assert titles[result.parts[0].refs[0]] == "Passwords"
    assert titles[result.parts[1].refs[0]] == "Refunds"


@pytest.mark.django_db
def test_one_knowledge_base_records_no_routes():
    # given
    from chatapp.assistant.stages.retrieval import retrieve

    kb = KnowledgeBaseFactory.create()
    _chunk(kb, "Refunds", "Refunds take 5 days.")
    # when
    result = retrieve(_request(kb, "how long do refunds take?"), embedder=AxisEmbedder())
    # then
    assert result.routes == []
    assert [p.title for p in result.passages] == ["Refunds"]
