from __future__ import annotations

import pytest

from chatapp.accounts.services import api_key_create
from chatapp.core.timing import parse_server_timing
from tests.factories.accounts import AgentFactory
from tests.factories.knowledge import ChunkFactory, DocumentFactory, KnowledgeBaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def key() -> str:
    return api_key_create(user=AgentFactory.create())


def _search(client, kb_id: int, key: str, body: object):
    return client.post(
        f"/api/v1/knowledge-bases/{kb_id}/search",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


@pytest.mark.parametrize("query", ["", "   ", "?!...", "¿¡ — !!"])
def test_queries_without_words_get_a_clear_400(client, key, query):
    # given
    kb = KnowledgeBaseFactory.create()
    # when
    response = _search(client, kb.pk, key, {"query": query, "k": 3})
    # then
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_query",
        "detail": "The query has no words to search for.",
    }


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "x" * 2001}, "invalid_request"),
        ({"query": "refunds", "k": 0}, "invalid_request"),
        ({"query": "refunds", "k": 500}, "invalid_request"),
        ({"k": 3}, "invalid_request"),
    ],
)
def test_oversized_or_malformed_search_bodies_are_refused(client, key, body, code):
    # given
    kb = KnowledgeBaseFactory.create()
    # when
    response = _search(client, kb.pk, key, body)
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


@pytest.mark.slow
def test_search_ranks_by_meaning_and_words_and_says_who_found_it(client, key):
    # given: real MiniLM embeddings for two passages
    from chatapp.knowledge.embedding import embedder

    kb = KnowledgeBaseFactory.create()
    texts = ["Refunds take 5 to 10 business days.", "Standard shipping costs 4.95 EUR."]
    vectors = embedder().embed(texts)
    for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
        ChunkFactory.create(
            document=DocumentFactory.create(knowledge_base=kb, title=f"Doc {i}"),
            text=text,
            embedding=vector.tolist(),
        )
    # when
    response = _search(client, kb.pk, key, {"query": "how long until I get my refund", "k": 2})
    # then
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["title"] == "Doc 0"
    assert "vector" in results[0]["found_by"]
    assert 0.0 <= results[0]["relevance"] <= 1.0
    # and where its time went, for operators and bench/search_http.py
    steps = parse_server_timing(response.headers["Server-Timing"])
    assert list(steps) == ["limit", "auth", "parse", "embed", "search", "serialize"]
    assert all(ms >= 0.0 for ms in steps.values())


@pytest.mark.slow
def test_embedding_alongside_the_search_gives_what_embedding_first_gives(client, key, settings):
    # given: real MiniLM embeddings; words that find one chunk, a meaning that finds the other
    from chatapp.knowledge.embedding import embedder

    kb = KnowledgeBaseFactory.create()
    texts = [
        "Refunds take 5 to 10 business days.",
        "Standard shipping costs 4.95 EUR.",
        "Parcels travel by courier to your door.",
    ]
    for i, (text, vector) in enumerate(zip(texts, embedder().embed(texts), strict=True)):
        ChunkFactory.create(
            document=DocumentFactory.create(knowledge_base=kb, title=f"Doc {i}"),
            text=text,
            embedding=vector.tolist(),
        )
    body = {"query": "what does shipping cost, and how long do refunds take", "k": 3}
    # when
    settings.CHATAPP_SEARCH_EMBED_ALONGSIDE = False
    first = _search(client, kb.pk, key, body)
    settings.CHATAPP_SEARCH_EMBED_ALONGSIDE = True
    alongside = _search(client, kb.pk, key, body)
    # then: the same hits and scores, and the same steps reported (embed: the wait)
    assert first.status_code == alongside.status_code == 200
    assert alongside.json() == first.json()
    assert len(alongside.json()["results"]) == 3
    steps = parse_server_timing(alongside.headers["Server-Timing"])
    assert list(steps) == ["limit", "auth", "parse", "embed", "search", "serialize"]
    assert all(ms >= 0.0 for ms in steps.values())


@pytest.mark.parametrize("alongside", [True, False])
def test_a_failing_search_model_gives_a_json_503(client, key, monkeypatch, settings, alongside):
    # given: the query embedder raises, inline or in its thread (a fake: this is about the
    # error's way back)
    from chatapp.knowledge import embedding

    class Broken:
        def embed(self, texts):
            raise RuntimeError("model files damaged")

    monkeypatch.setattr(embedding, "query_embedder", lambda: Broken())
    settings.CHATAPP_SEARCH_EMBED_ALONGSIDE = alongside
    kb = KnowledgeBaseFactory.create()
    # when
    response = _search(client, kb.pk, key, {"query": "refunds", "k": 3})
    # then: the client learns what is wrong, not how
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "model_unavailable",
        "detail": "The search model is unavailable; try again later or ask an operator.",
    }
