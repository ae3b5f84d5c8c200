"""Split parsed documents into embedding-sized chunks that never straddle two sections."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from chatapp.knowledge.ingest.parsers import ParsedDocument, Section

WORD_PIECES_PER_WORD: Final = 1.3  # all-MiniLM-L6-v2 averages ~1.3 word pieces per English word
TINY_SECTION_TOKENS: Final = 20  # below this a section says too little to retrieve on its own
HEADING_SEPARATOR: Final = " > "
ELLIPSIS: Final = "\u2026"

# A word ending in "." that does not end a sentence. Lower-case; dotted initials (e.g., U.S.)
# are caught by a pattern instead.
ABBREVIATIONS: Final = frozenset(
    {
        "mr.",
        "mrs.",
        "ms.",
        "dr.",
        "prof.",
        "sr.",
        "jr.",
        "st.",
        "mt.",
        "vs.",
        "etc.",
        "inc.",
        "ltd.",
        "co.",
        "corp.",
        "no.",
        "nos.",
        "fig.",
        "figs.",
        "approx.",
        "cf.",
        "al.",
        "dept.",
        "est.",
        "vol.",
        "ed.",
        "eq.",
        "sec.",
        "ch.",
        "p.",
        "pp.",
        "ref.",
        "tel.",
        "ext.",
        "min.",
        "max.",
        "avg.",
        "jan.",
        "feb.",
        "mar.",
        "apr.",
        "jun.",
        "jul.",
        "aug.",
        "sep.",
        "sept.",
        "oct.",
        "nov.",
        "dec.",
        "ca.",
        "resp.",
        "viz.",
    }
)
_TERMINATOR_RE: Final = re.compile(r"[.!?]+[\"')\]\u2019\u201d]*(?=\s)")
_NEXT_CHAR_RE: Final = re.compile(r"\s*(\S)")
_INITIALS_RE: Final = re.compile(r"(?:[A-Za-z]\.)+")
_FENCE_OPEN_RE: Final = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SENTENCE_START: Final = "\"'([\u2018\u201c`"
_CLOSERS: Final = "\"')]\u2019\u201d"


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk ready to embed and index.

    Attributes:
        ordinal: Position in the document, 0..n-1.
        text: The heading path (or the document title) as context, a blank line, then the body.
        heading_path: Headings of the section the chunk comes from.
        page: 1-based PDF page where the section starts, else None.
        anchor: Deep-link fragment of the section, else None.
        token_count: ``count_tokens(text)``, heading context included.
    """

    ordinal: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    anchor: str | None
    token_count: int


@dataclass(frozen=True)
class _Unit:
    text: str
    sep: str  # placed before this unit when another precedes it: " ", "\n" or "\n\n"
    code: bool = False


def approx_token_count(text: str) -> int:
    """Estimate word pieces as whitespace words times 1.3, rounded up."""
    return math.ceil(len(text.split()) * WORD_PIECES_PER_WORD)


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, list items/table rows and whole fenced code blocks.

    A ".", "!" or "?" ends a sentence when whitespace and a capital, digit, quote or bracket
    follow, unless the word is an abbreviation ("e.g.", "Mr.", "U.S."), a short number
    ("1." in a list) or sits inside an inline code span. "3.5" and "os.path" never split
    because no whitespace follows the dot.

    Args:
        text: Section text, paragraphs separated by blank lines.

    Returns:
        The pieces in order, stripped, none empty.
    """
    return [unit.text for unit in _units(text)]


def chunk_document(
    doc: ParsedDocument,
    *,
    max_tokens: int = 200,
    overlap_tokens: int = 40,
    count_tokens: Callable[[str], int] | None = None,
) -> list[ChunkDraft]:
    """Cut a parsed document into chunks of at most ``max_tokens`` tokens.

    A section that fits is one chunk; a longer one is cut at sentence boundaries (then words,
    then characters) and consecutive pieces repeat the previous piece's last whole sentences,
    up to ``overlap_tokens``. Fenced code blocks stay whole when they fit. A section under
    ``TINY_SECTION_TOKENS`` shares a chunk with its next sibling (same parent heading) when
    both fit; that chunk carries the first section's path, page and anchor.

    Args:
        doc: The parsed document.
        max_tokens: Upper bound on ``count_tokens(chunk.text)``.
        overlap_tokens: Upper bound on the tokens repeated from the previous piece.
        count_tokens: Token counter; defaults to ``approx_token_count``. Pass the embedding
            tokenizer's counter for exact budgets.

    Returns:
        Chunks in document order with ordinals 0..n-1; the same input gives the same output.

    Raises:
        ValueError: If ``max_tokens`` < 1 or ``overlap_tokens`` is not in [0, max_tokens).
    """
    if max_tokens < 1 or not 0 <= overlap_tokens < max_tokens:
        raise ValueError(f"bad budgets: {max_tokens=} {overlap_tokens=}")
    count = count_tokens or approx_token_count
    sections = [s for s in doc.sections if s.text.strip()]
    drafts: list[ChunkDraft] = []
    i = 0
    while i < len(sections):
        group = [sections[i]]
        i += 1
        while (
            i < len(sections)
            and count(group[-1].text) < TINY_SECTION_TOKENS
            and _siblings(group[-1], sections[i])
            and count(_render_group(doc, [*group, sections[i]])) <= max_tokens
        ):
            group.append(sections[i])
            i += 1
        first = group[0]
        if len(group) > 1:
            texts = [_render_group(doc, group)]
        else:
            texts = _chunk_section(first, _context(doc, first), count, max_tokens, overlap_tokens)
        for text in texts:
            drafts.append(
                ChunkDraft(
                    len(drafts), text, first.heading_path, first.page, first.anchor, count(text)
                )
            )
    return drafts


def _siblings(a: Section, b: Section) -> bool:
    return len(a.heading_path) == len(b.heading_path) > 0 and (
        a.heading_path[:-1] == b.heading_path[:-1]
    )


def _context(doc: ParsedDocument, section: Section) -> str:
    # Untitled preambles and heading-less PDFs still get the title as retrieval context.
    return HEADING_SEPARATOR.join(section.heading_path) or doc.title


def _join(header: str, body: str) -> str:
    return f"{header}\n\n{body}" if header else body


def _render_group(doc: ParsedDocument, group: Sequence[Section]) -> str:
    parts = []
    for n, section in enumerate(group):
        # A PDF section continued on the next page has the same path: say it once.
        same = n > 0 and group[n - 1].heading_path == section.heading_path
        parts.append(
            section.text.strip() if same else _join(_context(doc, section), section.text.strip())
        )
    return "\n\n".join(parts)


def _render(header: str, units: Sequence[_Unit]) -> str:
    body = units[0].text + "".join(unit.sep + unit.text for unit in units[1:])
    return _join(header, body)


def _chunk_section(
    section: Section, header: str, count: Callable[[str], int], max_tokens: int, overlap: int
) -> list[str]:
    whole = _join(header, section.text.strip())
    if count(whole) <= max_tokens:
        return [whole]
    header = _shorten_header(section.heading_path, header, count, max_tokens // 2)
    units: list[_Unit] = []
    for unit in _units(section.text):
        units.extend(_fit_unit(unit, header, count, max_tokens))
    chunks: list[str] = []
    carried: list[_Unit] = []
    i = 0
    while i < len(units):
        current = list(carried)
        while current and count(_render(header, [*current, units[i]])) > max_tokens:
            current.pop(0)  # the overlap must never crowd out new text
        current.append(units[i])
        i += 1
        while i < len(units) and count(_render(header, [*current, units[i]])) <= max_tokens:
            current.append(units[i])
            i += 1
        chunks.append(_render(header, current))
        carried = _overlap_tail(current, count, overlap)
    return chunks


def _overlap_tail(units: list[_Unit], count: Callable[[str], int], overlap: int) -> list[_Unit]:
    """The longest run of whole trailing sentences (no code) within ``overlap`` tokens."""
    tail: list[_Unit] = []
    for unit in reversed(units):
        if unit.code or count(_render("", [unit, *tail])) > overlap:
            break
        tail.insert(0, unit)
    return tail


def _shorten_header(
    path: tuple[str, ...], header: str, count: Callable[[str], int], limit: int
) -> str:
    """Keep the heading context within ``limit`` tokens so a chunk has room for its body."""
    if count(header) <= limit:
        return header
    if len(path) > 1:
        header = ELLIPSIS + HEADING_SEPARATOR + path[-1]
    if count(header) <= limit:
        return header
    words = header.split()
    keep = _longest_prefix(len(words), lambda n: count(" ".join(words[:n]) + ELLIPSIS) <= limit)
    return " ".join(words[:keep]) + ELLIPSIS if keep else ""


def _fit_unit(
    unit: _Unit, header: str, count: Callable[[str], int], max_tokens: int
) -> list[_Unit]:
    """Split a unit that cannot fit a chunk alone: code by lines, prose by words, then chars."""

    def fits(text: str) -> bool:
        return count(_join(header, text)) <= max_tokens

    if fits(unit.text):
        return [unit]
    if unit.code:
        lines = unit.text.split("\n")
        opener, closer = lines[0], lines[-1]
        # Each piece keeps its fences so it still reads as code.
        pieces = _greedy(lines[1:-1], "\n", lambda s: fits(f"{opener}\n{s}\n{closer}"), max_tokens)
        if all(fits(f"{opener}\n{p}\n{closer}") for p in pieces):
            return [_Unit(f"{opener}\n{p}\n{closer}", "\n\n", True) for p in pieces]
    pieces = []
    for piece in _greedy(unit.text.split(), " ", fits, max_tokens):
        pieces.extend([piece] if fits(piece) else _greedy(list(piece), "", fits, max_tokens))
    return [_Unit(p, unit.sep if n == 0 else " ", unit.code) for n, p in enumerate(pieces)]


def _greedy(
    items: list[str], joiner: str, fits: Callable[[str], bool], max_tokens: int
) -> list[str]:
    """Cut ``items`` into consecutive runs, each the longest that fits (at least one item)."""
    # Almost every item costs a token, so a run never holds many more items than max_tokens;
    # bounding the search keeps a huge unpunctuated text linear instead of quadratic.
    window = 4 * max_tokens + 16
    pieces: list[str] = []
    start = 0
    while start < len(items):
        head = items[start : start + window]

        def fits_first(k: int, head: list[str] = head) -> bool:
            return fits(joiner.join(head[:k]))

        n = max(1, _longest_prefix(len(head), fits_first))
        pieces.append(joiner.join(head[:n]))
        start += n
    return pieces


def _longest_prefix(total: int, fits: Callable[[int], bool]) -> int:
    """Largest n in [0, total] with fits(n), assuming fits is monotone; O(log total) calls."""
    low, high = 0, total
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def _units(text: str) -> list[_Unit]:
    """Sentences, lines and paragraphs with their separators; fenced code blocks whole."""
    units: list[_Unit] = []
    lines = text.strip().split("\n")
    paragraph: list[str] = []
    i = 0

    def end_paragraph() -> None:
        for n, line in enumerate(paragraph):
            for m, sentence in enumerate(_sentences(line)):
                sep = " " if m else ("\n" if n else "\n\n")
                units.append(_Unit(sentence, sep))
        paragraph.clear()

    while i < len(lines):
        fence = _FENCE_OPEN_RE.match(lines[i])
        if fence:
            end_paragraph()
            marker = fence[1]
            end = next(
                (
                    j
                    for j in range(i + 1, len(lines))
                    if lines[j].strip().startswith(marker) and not lines[j].strip().strip(marker[0])
                ),
                len(lines) - 1,
            )
            units.append(_Unit("\n".join(lines[i : end + 1]).strip(), "\n\n", True))
            i = end + 1
            continue
        if lines[i].strip():
            paragraph.append(lines[i].strip())
        else:
            end_paragraph()
        i += 1
    end_paragraph()
    return units


def _sentences(line: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _TERMINATOR_RE.finditer(line):
        end = match.end()
        after = _NEXT_CHAR_RE.match(line, end)
        nxt = after[1] if after else ""
        if not nxt or not (nxt.isupper() or nxt.isdigit() or nxt in _SENTENCE_START):
            continue
        if line[start:end].count("`") % 2:  # inside an inline code span
            continue
        space = line.rfind(" ", start, match.start())
        word = line[space + 1 if space >= 0 else start : end].lstrip(_SENTENCE_START)
        stem = word.rstrip(_CLOSERS)
        if match.group().rstrip(_CLOSERS) == "." and (
            stem.lower() in ABBREVIATIONS
            or _INITIALS_RE.fullmatch(stem)
            or (stem[:-1].isdigit() and len(stem) <= 3)  # "1." numbering a list
        ):
            continue
        sentences.append(line[start:end].strip())
        start = end
    sentences.append(line[start:].strip())
    return [s for s in sentences if s]
