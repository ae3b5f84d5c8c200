"""The pool's evidence after the candidate queries (``selectors/evidence.py``), on real Postgres."""

from __future__ import annotations

import math

import pytest

from chatapp.knowledge import selectors as sel
from chatapp.knowledge.models import KnowledgeBase
from chatapp.knowledge.selectors.evidence import LexicalFields
from chatapp.knowledge.selectors.fusion import FusionMethod, keyword_confidence, pool_bm25
from chatapp.knowledge.selectors.rescoring import parse_tsvector
from chatapp.knowledge.selectors.search import Pool
from tests.chatapp.knowledge.test_selectors import basis
from tests.factories.knowledge import ChunkFactory, DocumentFactory, KnowledgeBaseFactory

TEXTS = (
    "Refunds reach your card within five days. Refunds of gift cards are not possible.",
    "Cancel an order before it ships; refunds follow, and the refund reaches the card.",
    "Our oak lamps are made by hand, lamp by lamp, in the workshop.",
    "Gift wrapping costs three pounds an order; cards are free.",
)


@pytest.fixture
def shop(db):
    """Four chunks; the vectors point the first three at axis 0 and the last away from it."""
    kb = KnowledgeBaseFactory.create()
    doc = DocumentFactory.create(knowledge_base=kb, title="Help")
    vectors = [basis((0, 1.0)), basis((0, 1.0), (1, 0.5)), basis((0, 0.8), (2, 1.0)),
               basis((3, 1.0))]  # fmt: skip
    chunks = [
        ChunkFactory.create(document=doc, knowledge_base=kb, ordinal=i, text=t, embedding=v)
        for i, (t, v) in enumerate(zip(TEXTS, vectors, strict=True))
    ]
    return kb, chunks


def _pool(kb: KnowledgeBase, lexical: LexicalFields, query: str = "refund gift card order") -> Pool:
    return sel.chunk_search_pool(
        query=query, embedding=basis((0, 1.0)), knowledge_base_ids=[kb.pk], candidates=3,
        ef_search=40, lexical=lexical,
    )  # fmt: skip


def test_counts_from_postgres_equal_the_parsed_tsvectors(shop):
    # given: the same pool with whole tsvectors and with counts
    kb, _ = shop
    full, counted = _pool(kb, "tsvectors"), _pool(kb, "counts")
    lexemes = {lx for t in counted.stats.content for lx in t.lexemes}
    # when
    parsed = {c.chunk_id: parse_tsvector(c.vector_text) for c in full.candidates}
    # then: each candidate's query-lexeme counts and length (distinct lexemes) agree, and so do
    # BM25 and the keyword confidence
    assert lexemes == {"refund", "gift", "card", "order"}
    for c in counted.candidates:
        want = {lx: n for lx, n in parsed[c.chunk_id].items() if lx in lexemes}
        assert c.term_frequencies == want
        assert c.length == len(parsed[c.chunk_id])
    assert [c.chunk_id for c in counted.candidates] == [c.chunk_id for c in full.candidates]
    assert pool_bm25(counted.candidates, counted.stats) == pytest.approx(
        pool_bm25(full.candidates, full.stats)
    )
    assert max(pool_bm25(counted.candidates, counted.stats)) > 0
    bm = pool_bm25(counted.candidates, counted.stats)
    assert keyword_confidence(counted.candidates, bm, counted.stats) == pytest.approx(
        keyword_confidence(full.candidates, pool_bm25(full.candidates, full.stats), full.stats)
    )


def test_keyword_only_candidates_get_their_similarity_in_the_counts_query(shop):
    # given: the gift-wrapping chunk is found by its words only (its vector points away)
    kb, chunks = shop
    # when
    counted, plain = _pool(kb, "counts"), _pool(kb, "none")
    # then
    by_id = {c.chunk_id: c for c in counted.candidates}
    wrapping = by_id[chunks[3].pk]
    assert wrapping.vector_rank is None
    assert wrapping.keyword_rank is not None
    assert not math.isnan(wrapping.similarity)
    assert wrapping.similarity == pytest.approx(0.0, abs=1e-6)  # orthogonal to the query
    assert {c.chunk_id: c.similarity for c in counted.candidates} == pytest.approx(
        {c.chunk_id: c.similarity for c in plain.candidates}
    )


def test_bm25_fusion_costs_no_more_queries_than_convex(shop, django_assert_num_queries):
    # given: a pool with a keyword-only candidate, whose similarity convex fetches too
    kb, _ = shop

    def search(fusion: FusionMethod) -> list[sel.SearchHit]:
        return sel.chunk_search_hybrid(
            query="refund gift card order", embedding=basis((0, 1.0)),
            knowledge_base_ids=[kb.pk], k=3, candidates=3, rescore=False, fusion=fusion,
        )  # fmt: skip

    # when / then: statistics, keyword, savepoint, ef_search, vector, release, one by key
    with django_assert_num_queries(7):
        convex = search("convex")
    with django_assert_num_queries(7) as adaptive_queries:
        adaptive = search("adaptive")
    assert "ts_filter(" in adaptive_queries.captured_queries[-1]["sql"]
    assert len(convex) == len(adaptive) == 3


def test_a_pool_without_candidates_is_empty_with_counts(db):
    # given: a knowledge base with no chunks
    empty = KnowledgeBaseFactory.create()
    # when
    pool = sel.chunk_search_pool(
        query="zebra", embedding=basis((0, 1.0)), knowledge_base_ids=[empty.pk], candidates=3,
        ef_search=40, lexical="counts",
    )  # fmt: skip
    # then
    assert pool.candidates == []
