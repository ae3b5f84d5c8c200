from __future__ import annotations

from typing import Any

import pytest

from chatapp.knowledge import selectors as sel
from chatapp.knowledge.selectors.fusion import (
    adaptive_vector_weight,
    fuse_adaptive,
    fuse_pool,
    fuse_weighted,
    keyword_confidence,
    pool_bm25,
)
from chatapp.knowledge.selectors.rescoring import Candidate, QueryStats, QueryTerm, fuse_rrf
from tests.factories.knowledge import ChunkFactory, DocumentFactory, KnowledgeBaseFactory


def candidate(chunk_id: int, **kwargs: Any) -> Candidate:
    fields: dict[str, Any] = {
        "document_id": 1, "title": "T", "text": "", "source_url": "", "heading_path": "",
        "anchor": "", "similarity": 0.5, "keyword_score": 0.0,
    }  # fmt: skip
    fields.update(kwargs)
    return Candidate(chunk_id=chunk_id, **fields)


# "e1042" is rare (2 of 1000 chunks), "error" common (400 of 1000).
STATS = QueryStats((QueryTerm("error", ("error",), 400), QueryTerm("e1042", ("e1042",), 2)), 1000)


# --- Pure fusion maths (no database) -----------------------------------------------------------


def test_rrf_constant_sets_how_fast_ranks_decay():
    # given
    top = candidate(1, vector_rank=0)
    second = candidate(2, vector_rank=1)
    # when
    fuse_rrf([top, second], k=5)
    # then
    assert top.score == pytest.approx(1 / 6)
    assert second.score == pytest.approx(1 / 7)


def test_weighted_fusion_scales_cosine_min_max_and_lexical_by_its_maximum():
    # given
    a = candidate(1, similarity=0.9)
    b = candidate(2, similarity=0.5)
    # when
    fuse_weighted([a, b], [0.0, 4.0], vector_weight=0.75)
    # then
    assert a.score == pytest.approx(0.75)
    assert b.score == pytest.approx(0.25)


def test_keyword_confidence_is_the_idf_share_the_best_lexical_chunk_holds():
    # given: the best lexical chunk holds only the common word
    common = candidate(1, vector_text="'error':1")
    rare = candidate(2, vector_text="'e1042':3")
    idf_common, idf_rare = STATS.idf(STATS.terms[0]), STATS.idf(STATS.terms[1])
    # when
    holds_common = keyword_confidence([common, rare], [2.0, 1.0], STATS)
    holds_rare = keyword_confidence([common, rare], [1.0, 2.0], STATS)
    nothing = keyword_confidence([common, rare], [0.0, 0.0], STATS)
    # then
    assert holds_common == pytest.approx(idf_common / (idf_common + idf_rare))
    assert holds_rare == pytest.approx(idf_rare / (idf_common + idf_rare))
    assert nothing == 0.0


@pytest.mark.parametrize(
    ("confidence", "weight"), [(0.0, 0.8), (1.0, 0.3), (0.5, 0.55), (-1.0, 0.8), (2.0, 0.3)]
)
def test_adaptive_weight_falls_from_high_to_low_as_confidence_rises(confidence, weight):
    # when
    got = adaptive_vector_weight(confidence, low=0.3, high=0.8)
    # then
    assert got == pytest.approx(weight)


def test_adaptive_fusion_trusts_words_when_one_chunk_holds_the_rare_ones():
    # given: the embedding prefers a generic "error" chunk; one chunk names the exact code
    generic = candidate(1, similarity=0.80, vector_text="'error':1,5 'help':2")
    exact = candidate(2, similarity=0.62, vector_text="'e1042':4 'error':3")
    other = candidate(3, similarity=0.60, vector_text="'lamp':1")
    pool = [generic, exact, other]
    # when
    weight = fuse_adaptive(pool, STATS, low=0.3, high=0.8)
    # then
    assert weight == pytest.approx(0.3)
    assert max(pool, key=lambda c: c.score) is exact


def test_adaptive_fusion_trusts_meaning_when_no_chunk_holds_the_words():
    # given: a paraphrase: no query word in any chunk
    near = candidate(1, similarity=0.7, vector_text="'refund':1")
    far = candidate(2, similarity=0.3, vector_text="'lamp':1")
    # when
    weight = fuse_adaptive([near, far], STATS, low=0.3, high=0.8)
    # then
    assert weight == pytest.approx(0.8)
    assert near.score > far.score


def test_pool_bm25_scores_chunks_without_query_words_zero():
    # when
    scores = pool_bm25([candidate(1, vector_text="'e1042':1"), candidate(2, vector_text="")], STATS)
    # then
    assert scores[0] > 0
    assert scores[1] == 0.0


def test_unknown_fusion_method_is_refused():
    # when / then
    with pytest.raises(ValueError, match="bogus"):
        fuse_pool([candidate(1)], STATS, "bogus", vector_weight=0.5, rrf_k=60)


# --- The default on real Postgres and the real embedding model ------------------------------


@pytest.mark.slow
def test_default_search_finds_both_an_exact_code_and_a_paraphrase_first(db):
    # given: a small help centre; the default settings (fusion, normalisation) apply
    from chatapp.knowledge.embedding import embedder

    model = embedder()
    kb = KnowledgeBaseFactory.create()
    doc = DocumentFactory.create(knowledge_base=kb, title="Help centre")
    texts = [
        "Sync errors: when syncing fails, check your connection and sign in again.",
        "Error E1042 means the bank feed token expired; reconnect the bank under Settings.",
        "Refunds: once we receive your return, the money reaches your card within 5 days.",
        "Shipping: parcels to Germany cost 4.90 EUR and arrive in two to four days.",
        "Passwords: the reset link we email you works for 60 minutes.",
    ]
    chunks = [
        ChunkFactory.create(
            document=doc, knowledge_base=kb, ordinal=i, text=t, embedding=v.tolist()
        )
        for i, (t, v) in enumerate(zip(texts, model.embed(texts), strict=True))
    ]

    def top(question: str) -> int:
        vector = model.embed([sel.query_clean(question)])[0].tolist()
        hits = sel.chunk_search_hybrid(
            query=question, embedding=vector, knowledge_base_ids=[kb.pk], k=3
        )
        return hits[0].chunk_id

    # when
    exact = top("what does E1042 mean")
    paraphrase = top(
        "uh, how soon do I — sorry, when do I get my money back after sending it back?"
    )
    # then
    assert exact == chunks[1].pk
    assert paraphrase == chunks[2].pk
