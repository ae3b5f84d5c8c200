"""Reading a visitor's question: its separate parts, and whether it is too vague to answer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from workers.inference.answerer import content_words

__all__ = [
    "CLARIFY_PREFIX",
    "MAX_PARTS",
    "Topic",
    "clarifying_question",
    "split_question",
]

MAX_PARTS = 3  # each part costs a search and prompt space; visitors rarely ask more at once
VAGUE_MAX_WORDS = 3  # content words of a question that may be too vague ("how long does it take")
CLARIFY_PREFIX = "I can help with a few things that match."
# Best hits of different documents closer than this read as "any of them" to the search.
AMBIGUOUS_MARGIN = 0.06

_QUESTION_WORD = re.compile(
    r"^(?:what|how|when|where|why|who|which|can|could|do|does|did|is|are|will|would|should|"
    r"may|am)\b",
    re.IGNORECASE,
)
# Where a new question may start: after "?" or ";", or at "and"/"also"/"plus" followed by a
# question word ("... my password and what does Plus cost?").
_BOUNDARY = re.compile(
    r"(?<=\?)\s+|;\s*(?:and\s+|also\s+)?|,?\s+(?:and|also|plus)\s+(?:also\s+)?", re.IGNORECASE
)
_TRAILING_JOINER = re.compile(r"[\s,;]+$")


def _is_question(piece: str) -> bool:
    return bool(_QUESTION_WORD.match(piece)) and len(content_words(piece)) >= 1


def split_question(question: str) -> list[str]:
    """Splits a question with several parts into its parts.

    "How do I reset my password and what does Plus cost?" becomes "How do I reset my password"
    and "what does Plus cost?". A piece that does not read as a question of its own (no question
    word first, or nothing to ask about) stays with the part before it, as written: "Can I return
    it, and how?" and "Where is my order? It was due Monday." remain one question.

    Args:
        question: The visitor's message.

    Returns:
        One to ``MAX_PARTS`` parts in order (the question itself when it has one part); parts
        beyond the limit stay joined to the last one.
    """
    text = question.strip()
    starts = [0]
    for match in _BOUNDARY.finditer(text):
        rest = text[match.end() :]
        if match.start() > 0 and _is_question(rest):
            starts.append(match.end())
    # A piece ends where the next begins; the joining words between them are dropped.
    cuts = [m for m in _BOUNDARY.finditer(text) if m.end() in starts[1:]]
    parts = []
    for index, start in enumerate(starts):
        end = cuts[index].start() if index < len(cuts) else len(text)
        parts.append(_TRAILING_JOINER.sub("", text[start:end]))
    parts = [part for part in parts if part]
    if len(parts) > MAX_PARTS:
        tail_start = starts[MAX_PARTS - 1]
        parts = [*parts[: MAX_PARTS - 1], text[tail_start:]]
    if len(parts) > 1 and len(content_words(parts[0])) == 0:
        return [text]  # "And what about X?": a follow-up, not two questions
    return parts or [text]


@dataclass(frozen=True)
class Topic:
    """A candidate topic for a vague question: a document the search found.

    Attributes:
        title: The document's title.
        relevance: The best relevance of its passages for the question (0..1).
    """

    title: str
    relevance: float


def clarifying_question(question: str, topics: Sequence[Topic]) -> str | None:
    """One question back when a short question fits several documents equally well.

    Args:
        question: The visitor's question.
        topics: The documents of the best passages, best first (one entry per document).

    Returns:
        "Do you mean A, B or C?" naming the close topics, or None when the question is specific
        enough or one document clearly wins.
    """
    if len(content_words(question)) > VAGUE_MAX_WORDS or len(topics) < 2:
        return None
    best = topics[0].relevance
    close = [t for t in topics if best - t.relevance <= AMBIGUOUS_MARGIN][:3]
    if len(close) < 2:
        return None
    titles = [t.title.strip() or "another topic" for t in close]
    options = ", ".join(f"“{t}”" for t in titles[:-1]) + f" or “{titles[-1]}”"
    return f"{CLARIFY_PREFIX} Do you mean {options}?"
