"""Query handling for search: sanitising, terms, and word statistics from the planner."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Final

from django.conf import settings
from django.contrib.postgres.search import SearchQuery
from django.db import connection

from chatapp.knowledge.models import FTS_CONFIG, Chunk
from chatapp.knowledge.selectors.normalise import query_normalise
from chatapp.knowledge.selectors.rescoring import (
    QueryStats,
    QueryTerm,
)

# A question longer than this is cut: MiniLM reads 256 word pieces (~1000 characters) anyway,
# and every extra term makes the tsquery slower without making it better.
MAX_QUERY_CHARS: Final = 1000
MAX_QUERY_TERMS: Final = 32
MAX_TERM_CHARS: Final = 60  # longer "words" are noise (hashes, base64); Postgres drops >2 KB ones

_WORD_RE: Final = re.compile(r"\w+")
_PARTS_RE: Final = re.compile(r"[^\W\d_]+|\d+")  # letter runs and digit runs
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# websearch_to_tsquery reads these words as operators; as search terms they are stop words.
_OPERATOR_WORDS: Final = frozenset({"or", "and", "not"})


# --- Query sanitising -------------------------------------------------------------------------


def query_clean(query: str, *, conversational: bool | None = None) -> str:
    """Normalise a visitor's query for search: NFC, no control characters, at most 1000 chars.

    Embed the cleaned text, so an absurdly long message costs no more than a normal one.

    Args:
        query: The visitor's words.
        conversational: Also drop chat fillers (``normalise.py``), and the false start before
            a self-correction when ``CHATAPP_RETRIEVAL_STRIP_FALSE_START`` is on;
            ``CHATAPP_RETRIEVAL_NORMALISE_QUERY`` when None.
    """
    text = _CONTROL_RE.sub(" ", unicodedata.normalize("NFC", query or ""))
    text = " ".join(text.split())
    if settings.CHATAPP_RETRIEVAL_NORMALISE_QUERY if conversational is None else conversational:
        text = query_normalise(text, false_start=settings.CHATAPP_RETRIEVAL_STRIP_FALSE_START)
    if len(text) > MAX_QUERY_CHARS:  # cut before the word that crosses the limit
        text = text[: MAX_QUERY_CHARS + 1].rsplit(" ", 1)[0][:MAX_QUERY_CHARS]
    return text


def query_terms(query: str) -> list[str]:
    """The distinct words of a query, lower-cased, in order, at most ``MAX_QUERY_TERMS``.

    Punctuation-only or empty queries give ``[]``; operator words (or, and, not) are dropped so
    a visitor's text can never change the tsquery's logic.
    """
    seen: dict[str, None] = {}
    for match in _WORD_RE.finditer(query_clean(query).lower()):
        word = match.group()
        if len(word) <= MAX_TERM_CHARS and word not in _OPERATOR_WORDS and word.strip("_"):
            seen.setdefault(word, None)
            if len(seen) == MAX_QUERY_TERMS:
                break
    return list(seen)


def build_ts_query(terms: Sequence[str]) -> SearchQuery | None:
    # Any of the words may match (OR): a question's words rarely all occur in one passage;
    # ts_rank_cd then favours the chunks that hold more of them, closer together.
    if not terms:
        return None
    return SearchQuery(" or ".join(terms), search_type="websearch", config=FTS_CONFIG)


# --- Candidates -------------------------------------------------------------------------------

# ts_rank_cd reads every matching row's tsvector (~10 µs a row on 2 busy cores), so the words
# that select rows are chosen to match about this many rows; every content word still ranks.
MATCH_BUDGET_ROWS: Final = 1000
MAX_AND_WORDS: Final = 3
_CHUNK_TABLE: Final = Chunk._meta.db_table
# Word frequencies come from the planner's statistics (ANALYZE keeps the 1000 commonest
# lexemes of the tsvector column with their frequencies): a catalog read, not a count.
_TERM_STATS_SQL: Final = f"""
WITH s AS (
    SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs
    FROM pg_stats
    WHERE schemaname = current_schema() AND tablename = %(table)s AND attname = 'search_vector'
    LIMIT 1
)
SELECT w.word,
       lx.lexemes,
       f.freq,
       (SELECT s.freqs[array_length(s.elems, 1) + 1] FROM s),
       (SELECT reltuples FROM pg_class WHERE oid = %(table)s::regclass),
       CASE WHEN cardinality(lx.lexemes) = 0 THEN 0
            WHEN f.freq IS NOT NULL THEN NULL
            ELSE COALESCE(NULLIF((SELECT count(*) FROM {_CHUNK_TABLE} c
                  WHERE c.knowledge_base_id = ANY(%(kbs)s)
                    AND c.search_vector @@ websearch_to_tsquery(%(config)s::regconfig, w.word)), 0),
                  CASE WHEN w.parts <> '' THEN (SELECT count(*) FROM {_CHUNK_TABLE} c
                      WHERE c.knowledge_base_id = ANY(%(kbs)s)
                        AND c.search_vector @@ websearch_to_tsquery(%(config)s::regconfig, w.parts))
                  END, 0)
       END
FROM unnest(%(words)s::text[], %(parts)s::text[]) WITH ORDINALITY AS w(word, parts, i)
CROSS JOIN LATERAL (
    SELECT ARRAY(SELECT lexeme FROM unnest(to_tsvector(%(config)s::regconfig, w.word))) AS lexemes
) AS lx
CROSS JOIN LATERAL (
    SELECT max(s.freqs[array_position(s.elems, l.lexeme)]) AS freq
    FROM s, unnest(lx.lexemes) AS l(lexeme)
) AS f
ORDER BY w.i
"""  # noqa: S608  (the table name is the model's; every value is a bound parameter)


def query_stats(terms: Sequence[str], knowledge_base_ids: Sequence[int]) -> QueryStats:
    """Each query word's lexemes, estimated document frequency and presence, in one query.

    A common word's frequency comes from the column statistics (the ~1000 commonest lexemes,
    table-wide, refreshed by ANALYZE; a catalog read, not a count) and it counts as present.
    A rarer word is counted in the searched knowledge bases through the GIN index (a count,
    not EXISTS: EXISTS would make the planner scan the table for a word that is not there).
    That count is its frequency when ``CHATAPP_RETRIEVAL_EXACT_RARE_DF`` is on; otherwise it
    only says whether the word is present, and the word counts as half the least common
    element (0 without statistics, in a table never analysed).

    Args:
        terms: Words from ``query_terms``.
        knowledge_base_ids: Where presence is checked.

    Returns:
        The terms in order, and the estimated number of chunks in the table.
    """
    if not terms:
        return QueryStats((), 0)
    params: dict[str, Any] = {
        "config": FTS_CONFIG,
        "table": _CHUNK_TABLE,
        "words": list(terms),
        # "5ghz" is present when a chunk says "5 GHz": the parts, AND-ed, count too.
        "parts": [" ".join(_PARTS_RE.findall(t)) if _PARTS_RE.fullmatch(t) is None else ""
                  for t in terms],
        "kbs": list(knowledge_base_ids),
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_TERM_STATS_SQL, params)
        rows = cursor.fetchall()
    total = max(int(rows[0][4] or 0), 0)
    exact = settings.CHATAPP_RETRIEVAL_EXACT_RARE_DF
    out = []
    for word, lexemes, freq, floor, _, count in rows:
        if freq is not None:  # a common word: present, frequency from the statistics
            df, present = round(freq * total), True
        else:
            df = int(count) if exact else round((floor or 0.0) / 2.0 * total)
            present = bool(count)
        out.append(QueryTerm(word, tuple(lexemes or ()), df, present))
    return QueryStats(tuple(out), total)


def match_words(stats: QueryStats) -> str:
    """The websearch text that selects rows: cheap enough to rank, as inclusive as that allows.

    The rarest content words whose estimated matches fit ``MATCH_BUDGET_ROWS`` are OR-ed; when
    even the rarest word is common, the rarest few are AND-ed until the estimate fits.

    Returns:
        ``"w1 or w2 ..."``, ``"w1 w2"`` (AND), or ``""`` when the query has no content words.
    """
    content = sorted(stats.content, key=lambda t: (t.df, t.word))
    chosen: list[str] = []
    rows = 0
    for term in content:
        if chosen and rows + term.df > MATCH_BUDGET_ROWS:
            break
        chosen.append(term.word)
        rows += term.df
    if rows <= MATCH_BUDGET_ROWS or len(content) == 1:
        return " or ".join(chosen)
    estimate = float(stats.total)
    words: list[str] = []
    for term in content[:MAX_AND_WORDS]:
        words.append(term.word)
        estimate *= term.df / stats.total  # words taken as independent
        if estimate <= MATCH_BUDGET_ROWS:
            break
    return " ".join(words)
