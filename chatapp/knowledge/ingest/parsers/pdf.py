"""PDF text layers to sections: running headers dropped, heading lines guessed per page."""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Final

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from chatapp.knowledge.ingest.errors import DocumentError
from chatapp.knowledge.ingest.parsers.base import (
    LIST_ITEM_RE,
    MAX_HEADING_CHARS,
    PDF_HEADER_WINDOW,
    Builder,
    Section,
    normalise,
)

_PAGE_NUMBER_RE: Final = re.compile(r"^(?:page\s*)?\d{1,3}(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)
_DIGITS_RE: Final = re.compile(r"\d+")
_EDGE_NUMBER_RE: Final = re.compile(r"^(\d{1,4})\s|\s(\d{1,4})$")  # page number at either end
_CODE_CHARS_RE: Final = re.compile(r"[={};<>_]|::|--")  # lines like "Version ::= INTEGER"
_NUMBERED_HEADING_RE: Final = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+[A-Z]")
_BAD_PDF_TITLE_RE: Final = re.compile(r"^(untitled|microsoft word - )|\.(docx?|pdf|odt)$", re.I)
MAX_PDF_HEADING_CHARS: Final = 70  # longer lines are almost always wrapped prose


def parse_pdf(data: bytes, name: str) -> tuple[str | None, list[Section]]:
    """Return the metadata title (else the first line) and one or more sections per page.

    Raises:
        DocumentError: ``corrupt`` (not a PDF, or unreadable) or ``encrypted``.
    """
    if b"%PDF-" not in data[:PDF_HEADER_WINDOW]:
        raise DocumentError("corrupt", f"{name} is not a PDF file (no %PDF header).")
    # pypdf raises many exception types (PdfReadError, ValueError, KeyError, ...) on damaged
    # files; all of them mean the same thing to an admin.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise DocumentError("encrypted", f"{name} is password-protected; upload it unlocked.")
        pages = [normalise(page.extract_text() or "") for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except DocumentError:
        raise
    except DependencyError as exc:  # AES needs the optional cryptography package
        raise DocumentError("encrypted", f"{name} is encrypted: {exc}") from exc
    except Exception as exc:
        if "decrypt" in str(exc).lower() or "password" in str(exc).lower():
            raise DocumentError("encrypted", f"{name} is encrypted: {exc}") from exc
        raise DocumentError("corrupt", f"{name} is not a readable PDF: {exc}") from exc
    page_lines = [[" ".join(line.split()) for line in page.split("\n")] for page in pages]
    b = Builder()
    for number, lines in enumerate(_drop_running_lines(page_lines), start=1):
        b.flush()
        b.page = number
        _pdf_page(b, lines)
    b.flush()
    first_line = next((ln for lines in page_lines for ln in lines if ln), None)
    meta_title = " ".join(meta_title.split())
    title = meta_title if meta_title and not _BAD_PDF_TITLE_RE.search(meta_title) else first_line
    return (title[:MAX_HEADING_CHARS] if title else None), b.sections


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop page numbers and running headers/footers: not content, and not headings either.

    A running line repeats verbatim on half the pages, or sits in a page's first or last two
    lines with a number that tracks the page ("Chapter 4: Reference 12" on page 15, 16 on 19)
    and recurs in the same shape on another page (a lone "1 Introduction" is a heading).
    """

    def numbered_edges(lines: list[str]) -> dict[str, int]:
        filled = [ln for ln in lines if ln]
        found = {ln: _EDGE_NUMBER_RE.search(ln) for ln in filled[:2] + filled[-2:]}
        return {ln: int(m[1] or m[2]) for ln, m in found.items() if m}

    edges = [numbered_edges(lines) for lines in pages]
    offsets = Counter(p - n for p, found in enumerate(edges, 1) for n in found.values())
    page_offsets = {offset for offset, times in offsets.items() if times >= 3}
    shapes = Counter(_DIGITS_RE.sub("#", ln) for found in edges for ln in found)
    verbatim = Counter(ln for lines in pages for ln in set(lines) if ln)
    kept = []
    for p, (lines, found) in enumerate(zip(pages, edges, strict=True), 1):
        running = {
            ln
            for ln, n in found.items()
            if p - n in page_offsets and shapes[_DIGITS_RE.sub("#", ln)] >= 2
        }
        if len(pages) >= 3:
            running |= {ln for ln in lines if ln and verbatim[ln] >= len(pages) / 2}
        kept.append(
            [ln for ln in lines if not ln or (ln not in running and not _PAGE_NUMBER_RE.match(ln))]
        )
    return kept


def _pdf_page(b: Builder, lines: list[str]) -> None:
    widest = max((len(ln) for ln in lines), default=0)
    para: list[str] = []
    prev_heading = True  # the page start counts as a break

    def end_para() -> None:
        if para:
            b.add(_join_pdf_lines(para))
            para.clear()

    for i, line in enumerate(lines):
        nxt = next((ln for ln in lines[i + 1 :] if ln), "")
        prev = para[-1] if para else ""
        level = _pdf_heading_level(line, prev, nxt, prev_heading) if line else None
        if level is not None:
            end_para()
            b.heading(level, line, None)
        elif not line:
            end_para()
        else:
            para.append(line)
            if line[-1] in ".!?:" and len(line) < 0.7 * widest:  # short last line of a paragraph
                end_para()
        prev_heading = level is not None


def _pdf_heading_level(line: str, prev: str, nxt: str, prev_heading: bool) -> int | None:
    if len(line) > MAX_PDF_HEADING_CHARS or len(line.split()) > 10 or not nxt:
        return None
    if line[-1] in ".,;:" or not (nxt[0].isupper() or nxt[0].isdigit()):
        return None
    if _CODE_CHARS_RE.search(line):
        return None
    if prev and prev[-1] not in ".!?:" and not prev_heading:
        return None
    if numbered := _NUMBERED_HEADING_RE.match(line):
        return numbered[1].count(".") + 1
    words = [w for w in line.split() if w[0].isalpha()]
    if not words or LIST_ITEM_RE.match(line):
        return None
    if line.isupper() and len(line) >= 4:
        return 1
    long_words = [w for w in words if len(w) > 3]
    title_case = words[0][0].isupper() and all(w[0].isupper() for w in long_words)
    return 1 if title_case and len(long_words) >= 1 and len(words) <= 8 else None


def _join_pdf_lines(lines: list[str]) -> str:
    parts: list[str] = []
    for line in lines:
        if not parts:
            parts.append(line)
        elif LIST_ITEM_RE.match(line):
            parts.append("\n" + line)
        elif parts[-1].endswith("-") and line[:1].islower():  # word hyphenated across lines
            parts[-1] = parts[-1][:-1]
            parts.append(line)
        else:
            parts.append(" " + line)
    return "".join(parts)
