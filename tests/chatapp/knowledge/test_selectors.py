from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from chatapp.knowledge import selectors as sel
from chatapp.knowledge.models import EMBEDDING_DIM
from chatapp.knowledge.selectors.query import MAX_QUERY_TERMS
from chatapp.knowledge.selectors.rescoring import (
    Candidate,
    QueryStats,
    QueryTerm,
    bm25,
    coverage,
    fuse_convex,
    fuse_rrf,
    parse_tsvector,
    relevance,
    rescore_candidates,
)
from tests.factories.knowledge import ChunkFactory, DocumentFactory, KnowledgeBaseFactory


def basis(*weights: tuple[int, float]) -> list[float]:
    """A unit vector mixing axes, e.g. basis((0, 1.0), (1, 0.5))."""
    v = np.zeros(EMBEDDING_DIM)
    for axis, weight in weights:
        v[axis] = weight
    return (v / np.linalg.norm(v)).tolist()


def candidate(chunk_id: int, **kwargs: Any) -> Candidate:
    fields: dict[str, Any] = {
        "document_id": 1,
        "title": "T",
        "text": "",
        "source_url": "",
        "heading_path": "",
        "anchor": "",
        "similarity": 0.5,
        "keyword_score": 0.0,
    }
    fields.update(kwargs)
    return Candidate(chunk_id=chunk_id, **fields)


# --- Query sanitising (no database) -------------------------------------------------------------


def test_query_terms_keeps_words_in_order_once_and_drops_operator_words():
    # given
    query = 'Refund OR "cancel" -order, refund and NOT now!'
    # when
    terms = sel.query_terms(query)
    # then
    assert terms == ["refund", "cancel", "order", "now"]


@pytest.mark.parametrize("query", ["", "   ", "?!?!", "...---...", "\x00\x01", "'\"&|!:*()<>"])
def test_query_terms_of_a_query_without_words_is_empty(query):
    # when
    terms = sel.query_terms(query)
    # then
    assert terms == []


def test_query_clean_cuts_an_absurdly_long_query_at_a_word_boundary():
    # given
    query = "refund " * 1000
    # when
    cleaned = sel.query_clean(query)
    # then
    assert len(cleaned) == 1000
    assert cleaned.endswith("refund")


def test_query_terms_are_capped():
    # given
    query = " ".join(f"word{i}" for i in range(100)) + " " + "x" * 500
    # when
    terms = sel.query_terms(query)
    # then
    assert len(terms) == MAX_QUERY_TERMS
    assert terms[:2] == ["word0", "word1"]


# --- Fusion and re-scoring math (no database) ---------------------------------------------------


def test_rrf_adds_reciprocal_ranks_of_both_lists():
    # given
    both = candidate(1, vector_rank=0, keyword_rank=2)
    vector_only = candidate(2, vector_rank=1)
    keyword_only = candidate(3, keyword_rank=0)
    # when
    fuse_rrf([both, vector_only, keyword_only])
    # then
    assert both.score == pytest.approx(1 / 61 + 1 / 63)
    assert vector_only.score == pytest.approx(1 / 62)
    assert keyword_only.score == pytest.approx(1 / 61)


def test_convex_combines_min_max_scaled_scores():
    # given
    a = candidate(1, similarity=0.8, keyword_score=0.0)
    b = candidate(2, similarity=0.6, keyword_score=0.2)
    c = candidate(3, similarity=0.4, keyword_score=0.1)
    # when
    fuse_convex([a, b, c], vector_weight=0.75)
    # then
    assert a.score == pytest.approx(0.75)
    assert b.score == pytest.approx(0.75 * 0.5 + 0.25 * 1.0)
    assert c.score == pytest.approx(0.25 * 0.5)


def test_convex_of_one_candidate_gives_it_the_vector_weight():
    # given
    only = candidate(1, similarity=0.3, keyword_score=0.0)
    # when
    fuse_convex([only], vector_weight=0.6)
    # then
    assert only.score == pytest.approx(0.6)


def test_parse_tsvector_counts_positions_and_unescapes_quotes():
    # when
    tf = parse_tsvector("'float':3,17A 'it''s':4 'point':5 'bare'")
    # then
    assert tf == {"float": 2, "it's": 1, "point": 1, "bare": 1}


def test_bm25_and_coverage_weight_rare_words_higher():
    # given
    stats = QueryStats(
        (
            QueryTerm("the", (), 0),
            QueryTerm("float", ("float",), 1),
            QueryTerm("use", ("use",), 90),
        ),
        100,
    )
    rare = candidate(1, vector_text="'float':1")
    common = candidate(2, vector_text="'use':1")
    # when
    scores = (bm25(rare, stats, 1.0), bm25(common, stats, 1.0))
    covered = (coverage([rare.term_frequencies], stats), coverage([common.term_frequencies], stats))
    # then
    assert scores[0] > 4 * scores[1] > 0
    assert covered[0] > 0.8 > 0.2 > covered[1] > 0
    assert sum(covered) == pytest.approx(1.0)


def test_rescoring_lifts_a_chunk_whose_heading_and_text_hold_the_rare_words():
    # given
    stats = QueryStats((QueryTerm("sorted", ("sort",), 3), QueryTerm("list", ("list",), 50)), 1000)
    vague = candidate(1, similarity=0.60, vector_text="'list':1,2", heading_vector_text="'list':1")
    exact = candidate(
        2, similarity=0.55, vector_text="'sort':1,3 'list':2", heading_vector_text="'sort':1"
    )
    # when
    ranked = rescore_candidates([vague, exact], stats)
    # then
    assert [c.chunk_id for c in ranked] == [2, 1]
    assert ranked[0].score > ranked[1].score


def test_rescoring_keeps_candidates_below_the_depth_in_fused_order_under_the_top():
    # given
    stats = QueryStats((QueryTerm("x", ("x",), 1),), 10)
    pool = [candidate(i, similarity=0.1 * (i % 5)) for i in range(40)]
    # when
    ranked = rescore_candidates(pool, stats)
    # then
    assert [c.chunk_id for c in ranked[30:]] == list(range(30, 40))
    assert min(c.score for c in ranked[:30]) > max(c.score for c in ranked[30:])


def test_relevance_is_a_bounded_increasing_function_of_similarity():
    # when
    values = [relevance(s) for s in (-1.0, 0.0, 0.3, 0.4, 0.6, 1.0)]
    # then
    assert values == sorted(values)
    assert 0.0 < values[0] < 0.01
    assert values[3] == pytest.approx(0.5)
    assert 0.99 < values[-1] < 1.0


def test_unknown_query_words_lower_relevance():
    # when
    known = relevance(0.5, unknown_share=0.0)
    half_unknown = relevance(0.5, unknown_share=0.5)
    # then
    assert half_unknown == pytest.approx(relevance(0.35))
    assert known > 0.7 > 0.4 > half_unknown


# --- Searches on hand-built chunks --------------------------------------------------------------


@pytest.fixture
def kb_with_chunks(db):
    """Three chunks with known vectors and words; the query vector is axis 0."""
    kb = KnowledgeBaseFactory.create()
    doc = DocumentFactory.create(knowledge_base=kb, title="Help")
    texts = [
        "Refunds reach your card within five days.",
        "Cancel an order before it ships; refunds follow.",
        "Our oak lamps are made by hand.",
    ]
    vectors = [basis((0, 1.0)), basis((0, 1.0), (1, 0.5)), basis((1, 1.0))]
    chunks = [
        ChunkFactory.create(document=doc, knowledge_base=kb, ordinal=i, text=t, embedding=v)
        for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
    ]
    return kb, chunks


def test_vector_search_orders_by_cosine_similarity(kb_with_chunks):
    # given
    kb, chunks = kb_with_chunks
    # when
    hits = sel.chunk_search_vector(embedding=basis((0, 1.0)), knowledge_base_ids=[kb.pk], k=3)
    # then
    assert [h.chunk_id for h in hits] == [chunks[0].pk, chunks[1].pk, chunks[2].pk]
    assert [round(h.similarity or 0.0, 4) for h in hits] == [1.0, round(2 / math.sqrt(5), 4), 0.0]
    assert [h.found_by for h in hits] == [("vector",)] * 3


def test_keyword_search_ranks_chunks_holding_more_query_words_first(kb_with_chunks):
    # given
    kb, chunks = kb_with_chunks
    # when
    hits = sel.chunk_search_keyword(query="cancel refunds", knowledge_base_ids=[kb.pk], k=5)
    # then
    assert [h.chunk_id for h in hits] == [chunks[1].pk, chunks[0].pk]
    assert hits[0].score > hits[1].score > 0
    assert hits[0].similarity is None


def test_hybrid_rrf_puts_the_chunk_both_retrievers_found_first(kb_with_chunks):
    # given
    kb, chunks = kb_with_chunks
    # when
    hits = sel.chunk_search_hybrid(
        query="cancel order",
        embedding=basis((0, 1.0), (1, 0.6)),
        knowledge_base_ids=[kb.pk],
        k=3,
        fusion="rrf",
        rescore=False,
    )
    # then
    assert [h.chunk_id for h in hits] == [chunks[1].pk, chunks[0].pk, chunks[2].pk]
    assert [h.score for h in hits] == [
        round(1 / 61 + 1 / 61, 6),
        round(1 / 62, 6),
        round(1 / 63, 6),
    ]
    assert hits[0].found_by == ("vector", "keyword")
    assert all(0.0 < h.relevance < 1.0 for h in hits)


def test_hybrid_convex_and_rescore_keep_every_hit_similarity(kb_with_chunks):
    # given
    kb, chunks = kb_with_chunks
    # when
    hits = sel.chunk_search_hybrid(
        query="oak lamps",
        embedding=basis((0, 1.0)),
        knowledge_base_ids=[kb.pk],
        k=3,
        fusion="convex",
        vector_weight=0.5,
        rescore=True,
    )
    # then
    assert {h.chunk_id for h in hits} == {c.pk for c in chunks}
    assert [round(h.similarity or 0.0, 4) for h in hits if h.chunk_id == chunks[2].pk] == [0.0]
    assert all(h.similarity is not None for h in hits)


@pytest.mark.parametrize("query", ["", "   ", "?!?!", "...---...", "&|!:*()"])
def test_hybrid_finds_nothing_for_a_query_without_words(kb_with_chunks, query):
    # given
    kb, _ = kb_with_chunks
    # when
    hits = sel.chunk_search_hybrid(
        query=query, embedding=basis((0, 1.0)), knowledge_base_ids=[kb.pk], k=3
    )
    # then
    assert hits == []


@pytest.mark.parametrize(
    "query",
    [
        '"unterminated quote refunds',
        "refunds -",
        "or or or and not",
        "refunds:* & !cancel | (oak",
        "refunds " * 5000,
        "\u00e9t\u00e9 r\u00e9siliation \u8fd4\u91d1 \U0001f600",
    ],
)
def test_hybrid_survives_hostile_and_huge_queries(kb_with_chunks, query):
    # given
    kb, _ = kb_with_chunks
    # when
    hits = sel.chunk_search_hybrid(
        query=query, embedding=basis((0, 1.0)), knowledge_base_ids=[kb.pk], k=3, rescore=True
    )
    # then
    assert len(hits) <= 3


def test_a_zero_embedding_counts_as_unrelated(kb_with_chunks):
    # given
    kb, _ = kb_with_chunks
    # when
    hits = sel.chunk_search_vector(embedding=[0.0] * EMBEDDING_DIM, knowledge_base_ids=[kb.pk], k=3)
    # then
    assert [h.similarity for h in hits] == [0.0, 0.0, 0.0]


def test_wrong_embedding_size_and_unknown_fusion_are_refused(kb_with_chunks):
    # given
    kb, _ = kb_with_chunks
    # when / then
    with pytest.raises(ValueError, match="has 3 dimensions; the index holds 384"):
        sel.chunk_search_hybrid(query="x", embedding=[1.0, 0, 0], knowledge_base_ids=[kb.pk], k=3)
    with pytest.raises(ValueError, match="Unknown fusion method 'max'"):
        sel.chunk_search_hybrid(
            query="x",
            embedding=basis((0, 1.0)),
            knowledge_base_ids=[kb.pk],
            k=3,
            fusion="max",  # type: ignore[arg-type]  # the refusal under test
        )


def test_no_knowledge_bases_or_no_k_means_no_queries(db, django_assert_num_queries):
    # when
    with django_assert_num_queries(0):
        none = sel.chunk_search_hybrid(
            query="x", embedding=basis((0, 1.0)), knowledge_base_ids=[], k=3
        )
        zero = sel.chunk_search_vector(embedding=basis((0, 1.0)), knowledge_base_ids=[1], k=0)
    # then
    assert none == zero == []


def test_hybrid_search_runs_a_fixed_number_of_queries(kb_with_chunks, django_assert_num_queries):
    # given: more chunks than candidates, so the HNSW query needs no exact fallback
    kb, _ = kb_with_chunks
    # when, inside the test's transaction (outside one, the session's default ef_search needs no
    # savepoint: test_search_hnsw.py): term statistics, keyword, savepoint, ef_search, vector,
    # release (+ tsvectors for BM25 fusion or re-scoring)
    with django_assert_num_queries(6) as plain:
        sel.chunk_search_hybrid(
            query="refunds", embedding=basis((0, 1.0)), knowledge_base_ids=[kb.pk], k=2,
            candidates=2, rescore=False, fusion="convex",
        )  # fmt: skip
    with django_assert_num_queries(7):
        sel.chunk_search_hybrid(
            query="refunds", embedding=basis((0, 1.0)), knowledge_base_ids=[kb.pk], k=2,
            candidates=2, rescore=True, ef_search=77, fusion="convex",
        )  # fmt: skip
    with django_assert_num_queries(7):
        sel.chunk_search_hybrid(
            query="refunds", embedding=basis((0, 1.0)), knowledge_base_ids=[kb.pk], k=2,
            candidates=2, rescore=False, fusion="adaptive",
        )  # fmt: skip
    # then
    assert "set_config('hnsw.ef_search'" in plain.captured_queries[3]["sql"]


def test_hybrid_asks_for_the_vector_once_after_the_queries_that_need_none(kb_with_chunks):
    # given: the vector as a function, as /search passes an embedding computed meanwhile
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    kb, _ = kb_with_chunks
    vector = basis((0, 1.0), (1, 0.6))
    asked_after: list[int] = []
    # when
    with CaptureQueriesContext(connection) as queries:

        def pending() -> list[float]:
            asked_after.append(len(queries.captured_queries))
            return vector

        later = sel.chunk_search_hybrid(
            query="cancel order", embedding=pending, knowledge_base_ids=[kb.pk], k=3
        )
    now = sel.chunk_search_hybrid(
        query="cancel order", embedding=vector, knowledge_base_ids=[kb.pk], k=3
    )
    # then: once, after the word statistics and the keyword candidates; the same hits
    assert asked_after == [2]
    first, second = (q["sql"] for q in queries.captured_queries[:2])
    assert "pg_stats" in first
    assert "ts_rank_cd" in second  # the keyword candidates: ranked by words, no distance yet
    assert "<=>" not in second
    assert later == now


def test_keyword_only_candidates_get_their_cosine_similarity(kb_with_chunks):
    # given: the vector's one candidate is the lamp chunk; the words find a refund chunk
    kb, chunks = kb_with_chunks
    vector = basis((0, 0.3), (1, 1.0))
    # when
    pool = sel.chunk_search_pool(
        query="refunds", embedding=vector, knowledge_base_ids=[kb.pk], candidates=1,
        ef_search=40, lexical="none",
    )  # fmt: skip
    # then: found by words only, with the similarity a vector search gives it
    found = {c.chunk_id: c for c in pool.candidates}
    assert found[chunks[2].pk].vector_rank == 0
    keyword_only = [c for c in pool.candidates if c.vector_rank is None]
    assert len(keyword_only) == 1
    expected = {
        h.chunk_id: h.similarity
        for h in sel.chunk_search_vector(embedding=vector, knowledge_base_ids=[kb.pk], k=3)
    }
    assert not math.isnan(keyword_only[0].similarity)
    assert keyword_only[0].similarity == pytest.approx(expected[keyword_only[0].chunk_id], abs=1e-6)


def test_a_failing_vector_function_fails_the_search(kb_with_chunks):
    # given: the embedder raised in its thread
    kb, _ = kb_with_chunks

    def pending() -> list[float]:
        raise RuntimeError("embedder down")

    # when / then: the error reaches the caller, as an inline embedding's would
    with pytest.raises(RuntimeError, match="embedder down"):
        sel.chunk_search_hybrid(query="refunds", embedding=pending, knowledge_base_ids=[kb.pk], k=3)


def test_a_small_knowledge_base_in_a_big_table_still_gets_its_nearest_chunks(db):
    # given: HNSW filters after its scan, so a small knowledge base needs the exact fallback
    big = KnowledgeBaseFactory.create()
    small = KnowledgeBaseFactory.create()
    ChunkFactory.create_batch(
        300, document=DocumentFactory.create(knowledge_base=big), knowledge_base=big
    )
    doc = DocumentFactory.create(knowledge_base=small)
    mine = [
        ChunkFactory.create(document=doc, knowledge_base=small, embedding=basis((5, 1.0), (6, w)))
        for w in (0.1, 0.5, 2.0)
    ]
    # when
    hits = sel.chunk_search_vector(
        embedding=basis((5, 1.0)), knowledge_base_ids=[small.pk], k=5, ef_search=10
    )
    # then
    assert [h.chunk_id for h in hits] == [c.pk for c in mine]


def test_estimated_statistics_without_analyze_count_every_word_as_rare(kb_with_chunks, settings):
    # given: a table ANALYZE never saw (no column statistics in this transaction), and rare
    # words estimated from the statistics rather than counted
    settings.CHATAPP_RETRIEVAL_EXACT_RARE_DF = False
    kb, _ = kb_with_chunks
    # when
    stats = sel.query_stats(["the", "refunds", "lamps", "zebras"], [kb.pk])
    # then
    assert [(t.word, t.lexemes, t.df, t.present) for t in stats.terms] == [
        ("the", (), 0, False),
        ("refunds", ("refund",), 0, True),
        ("lamps", ("lamp",), 0, True),
        ("zebras", ("zebra",), 0, False),
    ]
    assert stats.unknown_share == pytest.approx(1 / 3)


@pytest.mark.parametrize("exact_rare", [False, True])
def test_common_words_take_their_frequency_from_analyze(db, settings, exact_rare):
    # given: "refund" in 30 of 40 chunks, "lamp" in 10 (common elements after ANALYZE), "zebra"
    # in none; rare words counted or estimated, which common words do not depend on
    from django.db import connection

    settings.CHATAPP_RETRIEVAL_EXACT_RARE_DF = exact_rare
    kb = KnowledgeBaseFactory.create()
    doc = DocumentFactory.create(knowledge_base=kb)
    for i in range(40):
        words = ["refund"] * (i < 30) + ["lamp"] * (i >= 30) + [f"filler{i}"]
        ChunkFactory.create(document=doc, knowledge_base=kb, text=" ".join(words))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_chunk")
    # when
    stats = sel.query_stats(["refunds", "lamps", "zebra"], [kb.pk])
    # then
    assert stats.total == 40
    assert [(t.word, t.df, t.present) for t in stats.terms] == [
        ("refunds", 30, True),
        ("lamps", 10, True),
        ("zebra", 0, False),
    ]


def test_rare_words_take_their_exact_count(db, settings):
    # given: "lamp" in 3 chunks of this knowledge base and 2 of another, never analysed
    settings.CHATAPP_RETRIEVAL_EXACT_RARE_DF = True
    kb, other = KnowledgeBaseFactory.create(), KnowledgeBaseFactory.create()
    for base, n in ((kb, 3), (other, 2)):
        doc = DocumentFactory.create(knowledge_base=base)
        for i in range(n):
            ChunkFactory.create(document=doc, knowledge_base=base, text=f"lamp refund {i}")
    ChunkFactory.create(document=DocumentFactory.create(knowledge_base=kb), knowledge_base=kb,
                        text="The hub needs 5 GHz Wi-Fi.")  # fmt: skip
    # when
    stats = sel.query_stats(["the", "lamps", "zebra", "5ghz"], [kb.pk])
    # then: counted in the searched knowledge base only; "5ghz" by its parts
    assert [(t.word, t.df, t.present) for t in stats.terms] == [
        ("the", 0, False),
        ("lamps", 3, True),
        ("zebra", 0, False),
        ("5ghz", 1, True),
    ]


def test_a_word_is_known_when_its_letter_and_digit_parts_are(db):
    # given
    kb = KnowledgeBaseFactory.create()
    ChunkFactory.create(document=DocumentFactory.create(knowledge_base=kb), knowledge_base=kb,
                 text="The hub needs 2.4 GHz Wi-Fi; 5 GHz networks will not do.")  # fmt: skip
    # when
    stats = sel.query_stats(["5ghz", "24ghz", "wifi", "hub"], [kb.pk])
    # then
    assert [(t.word, t.present) for t in stats.terms] == [
        ("5ghz", True),
        ("24ghz", False),
        ("wifi", False),
        ("hub", True),
    ]


def test_match_query_ors_rare_words_and_ands_common_ones():
    # given
    rare = QueryStats((QueryTerm("sort", ("sort",), 10), QueryTerm("key", ("key",), 300)), 100_000)
    common = QueryStats(
        (
            QueryTerm("make", ("make",), 6000),
            QueryTerm("list", ("list",), 13000),
            QueryTerm("function", ("function",), 38000),
        ),
        100_000,
    )
    # when
    rare_words = sel.match_words(rare)
    common_words = sel.match_words(common)
    nothing = sel.match_words(QueryStats((QueryTerm("the", (), 0),), 10))
    # then
    assert rare_words == "sort or key"
    assert common_words == "make list"
    assert nothing == ""


# --- Real embeddings ---------------------------------------------------------------------------


@pytest.mark.slow
def test_real_minilm_hybrid_search_finds_the_answering_chunk_first(db):
    # given
    from chatapp.knowledge.embedding import embedder

    model = embedder()
    kb = KnowledgeBaseFactory.create()
    doc = DocumentFactory.create(knowledge_base=kb, title="Help centre")
    texts = [
        "Refunds: once we receive your return, the money reaches your card within 5 working days.",
        "Shipping: parcels to Germany cost 4.90 EUR and arrive in two to four days.",
        "Oak care: wipe the lamp with a dry cloth; oil the wood once a year.",
        "Passwords: the reset link we email you works for 60 minutes.",
    ]
    vectors = model.embed(texts)
    chunks = [
        ChunkFactory.create(
            document=doc, knowledge_base=kb, ordinal=i, text=t, embedding=v.tolist()
        )
        for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
    ]
    question = "when do I get my money back after sending something back?"
    # when
    hits = sel.chunk_search_hybrid(
        query=question,
        embedding=model.embed([sel.query_clean(question)])[0].tolist(),
        knowledge_base_ids=[kb.pk],
        k=2,
    )
    unrelated = sel.chunk_search_hybrid(
        query="who won the football world cup in 1998",
        embedding=model.embed(["who won the football world cup in 1998"])[0].tolist(),
        knowledge_base_ids=[kb.pk],
        k=2,
    )
    # then
    assert hits[0].chunk_id == chunks[0].pk
    assert hits[0].relevance > 0.5
    assert unrelated[0].relevance < 0.2
