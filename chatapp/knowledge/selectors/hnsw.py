"""The HNSW candidate list size (``hnsw.ef_search``) a search runs with, and a session's default.

Each database session gets ``CHATAPP_HNSW_EF_SEARCH`` once, when Django opens (or, with the pool,
checks out) it, so a search at the default runs as one statement. Setting it per search took a
transaction of its own (BEGIN, set_config, COMMIT): about 1.6 ms of a 100k-chunk ``/search``
(docs/notes/issue-7-search-routing.md, session 17). Other values still go through a transaction
with a local setting, which ends with it.
"""

from __future__ import annotations

import weakref
from typing import Any, Final

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper

# pgvector refuses hnsw.ef_search above 1000.
MAX_EF_SEARCH: Final = 1000
# ef_search set on each live session, keyed by the driver's connection: Django's pool hands the
# same session to many requests (it resets nothing on return), and a closed one drops out.
_session_ef: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def hnsw_ef(ef_search: int, limit: int) -> int:
    """The ``hnsw.ef_search`` a search runs with: at least twice the rows it wants.

    HNSW yields at most ef_search rows and the knowledge-base filter runs after it, so the
    margin keeps a dominant knowledge base from coming up a few rows short.
    """
    return min(max(ef_search, 2 * limit), MAX_EF_SEARCH)


def hnsw_session_configure(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver: the session's ``hnsw.ef_search`` default, once per session.

    A placeholder setting until pgvector loads in the session, which then adopts its value.
    """
    if connection.vendor != "postgresql":
        return
    raw = connection.connection
    ef = min(settings.CHATAPP_HNSW_EF_SEARCH, MAX_EF_SEARCH)
    if _session_ef.get(raw) == ef:
        return
    # Django has just turned autocommit on: the setting outlives this statement.
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(ef)])
    _session_ef[raw] = ef


def hnsw_session_ef(connection: BaseDatabaseWrapper) -> int | None:
    """The ``hnsw.ef_search`` this session was given (connecting first), or None when not known."""
    connection.ensure_connection()
    return _session_ef.get(connection.connection)
