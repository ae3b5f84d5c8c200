"""The session's hnsw.ef_search default (selectors/hnsw.py), on real Postgres with pgvector."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections

from chatapp.knowledge import selectors as sel
from chatapp.knowledge.selectors.hnsw import MAX_EF_SEARCH, hnsw_session_ef
from tests.chatapp.knowledge.test_selectors import basis
from tests.factories.knowledge import ChunkFactory, DocumentFactory, KnowledgeBaseFactory


def _show_ef(conn: Any) -> str:
    with conn.cursor() as cursor:
        cursor.execute("SHOW hnsw.ef_search")
        return str(cursor.fetchone()[0])


@pytest.fixture
def fresh() -> Iterator[Any]:
    """A second connection to the test database, not yet open (the test sets ef first)."""
    conn = connections.create_connection("default")
    yield conn
    conn.close()


@pytest.mark.django_db(transaction=True)
def test_a_new_session_gets_the_configured_ef_search(settings, fresh):
    # given
    settings.CHATAPP_HNSW_EF_SEARCH = 123
    # when: Django opens it (connection_created)
    fresh.ensure_connection()
    # then
    assert _show_ef(fresh) == "123"
    assert hnsw_session_ef(fresh) == 123


@pytest.mark.django_db(transaction=True)
def test_the_setting_outlives_a_rolled_back_transaction(settings, fresh):
    # given: the setting was made in autocommit, before any transaction of the test
    settings.CHATAPP_HNSW_EF_SEARCH = 150
    fresh.ensure_connection()
    # when
    fresh.set_autocommit(False)
    with fresh.cursor() as cursor:
        cursor.execute("SELECT 1")
    fresh.rollback()
    fresh.set_autocommit(True)
    # then
    assert _show_ef(fresh) == "150"


def test_ef_search_above_pgvectors_limit_is_capped(db, settings, fresh):
    # given
    settings.CHATAPP_HNSW_EF_SEARCH = 5000
    # when
    fresh.ensure_connection()
    # then
    assert _show_ef(fresh) == str(MAX_EF_SEARCH)


def _kb_with_chunks() -> int:
    kb = KnowledgeBaseFactory.create()
    doc = DocumentFactory.create(knowledge_base=kb)
    ChunkFactory.create_batch(4, document=doc, knowledge_base=kb, embedding=basis((0, 1.0)))
    return int(kb.pk)


@pytest.mark.django_db(transaction=True)
def test_the_default_ef_search_runs_the_vector_query_alone(settings, django_assert_num_queries):
    # given: autocommit, as a web request's search runs
    kb = _kb_with_chunks()
    # when
    with django_assert_num_queries(1):
        hits = sel.chunk_search_vector(embedding=basis((0, 1.0)), knowledge_base_ids=[kb], k=2)
    # then
    assert len(hits) == 2
    assert _show_ef(connection) == str(settings.CHATAPP_HNSW_EF_SEARCH)


@pytest.mark.django_db(transaction=True)
def test_another_ef_search_is_local_to_its_transaction(settings, django_assert_num_queries):
    # given
    kb = _kb_with_chunks()
    # when
    with django_assert_num_queries(4) as ctx:  # BEGIN, ef_search, vector, COMMIT
        hits = sel.chunk_search_vector(
            embedding=basis((0, 1.0)), knowledge_base_ids=[kb], k=2, ef_search=77
        )
    # then
    assert len(hits) == 2
    assert "set_config('hnsw.ef_search', '77', true)" in ctx.captured_queries[1]["sql"]
    assert _show_ef(connection) == str(settings.CHATAPP_HNSW_EF_SEARCH)


def test_inside_a_callers_transaction_each_search_sets_its_own_ef(
    db, settings, django_assert_num_queries
):
    # given: an earlier search of the same transaction left its local setting
    kb = _kb_with_chunks()
    sel.chunk_search_vector(embedding=basis((0, 1.0)), knowledge_base_ids=[kb], k=2, ef_search=77)
    assert _show_ef(connection) == "77"
    # when: a search at the default
    with django_assert_num_queries(4) as ctx:  # savepoint, ef_search, vector, release
        sel.chunk_search_vector(embedding=basis((0, 1.0)), knowledge_base_ids=[kb], k=2)
    # then
    assert (
        f"set_config('hnsw.ef_search', '{settings.CHATAPP_HNSW_EF_SEARCH}', true)"
        in (ctx.captured_queries[1]["sql"])
    )


def test_the_exact_fallback_inside_a_transaction_turns_index_scans_back_on(db):
    # given: one chunk, so the HNSW query comes up short and the exact search runs
    kb = KnowledgeBaseFactory.create()
    ChunkFactory.create(document=DocumentFactory.create(knowledge_base=kb), knowledge_base=kb)
    # when
    sel.chunk_search_vector(embedding=basis((0, 1.0)), knowledge_base_ids=[kb.pk], k=4)
    # then
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_indexscan")
        assert cursor.fetchone()[0] == "on"
