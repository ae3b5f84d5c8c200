"""Shared parser plumbing: the Section/ParsedDocument shapes, decoding, sniffing and hashing."""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from chatapp.knowledge.ingest.errors import DocumentError

SUPPORTED_EXTENSIONS: Final = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf")
MAX_HEADING_CHARS: Final = 120  # every chunk repeats its heading path, so bound what it costs
MAX_CONTROL_RATIO: Final = 0.01  # real text has almost no control characters; random bytes ~12%
PDF_HEADER_WINDOW: Final = 1024  # readers accept "%PDF-" anywhere in the first KiB
_SIGNATURES: Final = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (.docx, .xlsx, ...)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0", "a legacy Microsoft Office file"),
)
_INVISIBLE_RE: Final = re.compile("[\u00ad\u200b\u2060\ufeff]")
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")  # Cc but \t \n \f \r
LIST_ITEM_RE: Final = re.compile(r"^\s*(?:[-*+\u2022\u2013]|\d{1,3}[.)]|[a-z][.)])\s+")


@dataclass(frozen=True)
class Section:
    """A run of body text under one heading path.

    Attributes:
        heading_path: Headings from the outermost in, e.g. ("Billing", "Refunds").
        text: Plain body text, paragraphs separated by a blank line; code kept in ``` fences.
        page: 1-based PDF page where the text starts; None for other formats.
        anchor: HTML id or Markdown heading slug of the nearest heading that has one.
    """

    heading_path: tuple[str, ...]
    text: str
    page: int | None = None
    anchor: str | None = None


@dataclass(frozen=True)
class ParsedDocument:
    """A document's title and sections, with a hash of its normalised text.

    Attributes:
        title: Display title.
        sections: Non-empty sections in document order.
        content_hash: sha256 hex of the heading paths and whitespace-collapsed section texts
            (not the title, pages or anchors), so a re-upload of the same content matches.
    """

    title: str
    sections: tuple[Section, ...]
    content_hash: str

    @property
    def text(self) -> str:
        """All section texts joined by a blank line."""
        return "\n\n".join(section.text for section in self.sections)


@dataclass
class _Heading:
    level: int
    text: str
    anchor: str | None


class Builder:
    """Collects blocks under a heading stack and cuts a Section at each heading or page."""

    def __init__(self) -> None:
        self.stack: list[_Heading] = []
        self.blocks: list[list[str]] = []  # paragraphs, each a list of lines
        self.sections: list[Section] = []
        self.page: int | None = None
        self._last_tight = False

    def heading(self, level: int, text: str, anchor: str | None) -> None:
        """Close the current section and open one under ``text`` at ``level`` (1 = outermost)."""
        text = " ".join(text.split())
        if not text:
            return
        if len(text) > MAX_HEADING_CHARS:
            text = text[: MAX_HEADING_CHARS - 1].rstrip() + "\u2026"
        self.flush()
        while self.stack and self.stack[-1].level >= level:
            self.stack.pop()
        self.stack.append(_Heading(level, text, anchor or None))

    def add(self, block: str, *, tight: bool = False) -> None:
        """Add a block; consecutive tight blocks (list items) share a paragraph, one per line."""
        if not block.strip():
            return
        if tight and self._last_tight and self.blocks:
            self.blocks[-1].append(block)
        else:
            self.blocks.append([block])
        self._last_tight = tight

    def flush(self) -> None:
        """Cut the collected blocks into a Section under the current heading path."""
        if self.blocks:
            anchor = next((h.anchor for h in reversed(self.stack) if h.anchor), None)
            path = tuple(h.text for h in self.stack)
            text = "\n\n".join("\n".join(lines) for lines in self.blocks)
            self.sections.append(Section(path, text, self.page, anchor))
        self.blocks = []
        self._last_tight = False


def finish(title: str, sections: list[Section], name: str) -> ParsedDocument:
    """Drop empty sections and hash the rest.

    Args:
        title: Display title; whitespace is collapsed.
        sections: What a format parser produced.
        name: File name (or title) used in the refusal message.

    Returns:
        The parsed document.

    Raises:
        DocumentError: ``no_text`` when every section is empty.
    """
    kept = tuple(s for s in sections if s.text.strip())
    if not kept:
        raise DocumentError("no_text", f"{name} contains no extractable text.")
    digest = hashlib.sha256()
    for section in kept:
        digest.update(" > ".join(section.heading_path).encode())
        digest.update(b"\n" + " ".join(section.text.split()).encode() + b"\n\n")
    return ParsedDocument(" ".join(title.split()), kept, digest.hexdigest())


def normalise(text: str) -> str:
    """NFC, Unix line ends, form feeds as paragraph breaks, no invisible or control characters."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    # Postgres text columns refuse NUL; the other control characters only add index noise.
    return _CONTROL_RE.sub("", _INVISIBLE_RE.sub("", text.replace("\f", "\n\n")))


def decode(data: bytes, name: str) -> str:
    """Decode a text upload (UTF-16 with BOM, UTF-8, cp1252, latin-1), refusing binary data.

    Raises:
        DocumentError: ``binary`` for another format's signature, NUL bytes, or a result
            that is not text in the first decodable encoding.
    """
    head = data[:PDF_HEADER_WINDOW].lstrip()
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            raise DocumentError("binary", f"{name} looks like {kind}, not a text file.")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates: tuple[str, ...] = ("utf-16",)
    elif b"\x00" in data:
        raise DocumentError("binary", f"{name} contains binary data (NUL bytes), not text.")
    else:
        candidates = ("utf-8-sig", "cp1252", "latin-1")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text
        break  # a decodable result that is not text will not become text in another codec
    raise DocumentError("binary", f"{name} does not look like text (undecodable or binary).")


def _looks_like_text(text: str) -> bool:
    sample = text[:200_000]
    return len(_CONTROL_RE.findall(sample)) <= MAX_CONTROL_RATIO * len(sample)
