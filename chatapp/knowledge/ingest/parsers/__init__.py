"""Parse uploaded documents (Markdown, plain text, HTML, PDF) into titled, heading-aware sections.

Every parser emits the same shape: sections whose text holds paragraphs separated by a blank line,
where a single newline inside a paragraph is meaningful (list item, table row, hard break) and
verbatim code is wrapped in Markdown fences, so the chunker treats all formats alike.
"""

from __future__ import annotations

from typing import Final, Literal

from chatapp.knowledge.ingest.errors import DocumentError
from chatapp.knowledge.ingest.parsers.base import (
    SUPPORTED_EXTENSIONS,
    ParsedDocument,
    Section,
    decode,
    finish,
    normalise,
)
from chatapp.knowledge.ingest.parsers.html import parse_html
from chatapp.knowledge.ingest.parsers.markdown import parse_markdown
from chatapp.knowledge.ingest.parsers.pdf import parse_pdf
from chatapp.knowledge.ingest.parsers.text import parse_plain

__all__ = ["SUPPORTED_EXTENSIONS", "ParsedDocument", "Section", "parse_document", "parse_text"]

_FORMATS: Final[dict[str, Literal["markdown", "text", "html"]]] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
}
_PARSERS: Final = {"markdown": parse_markdown, "text": parse_plain, "html": parse_html}


def parse_document(
    data: bytes, *, filename: str, max_bytes: int = 20_000_000, title: str | None = None
) -> ParsedDocument:
    """Parse an uploaded file into sections, dispatching on its extension.

    Args:
        data: The file's bytes.
        filename: Original name; its extension (case-insensitive) picks the parser and its stem
            is the fallback title.
        max_bytes: Largest accepted upload.
        title: Overrides the title found in the document.

    Returns:
        The parsed document.

    Raises:
        DocumentError: With code "empty", "too_large", "unsupported_type", "binary" (a text
            type holding binary data or another format), "encrypted", "corrupt" (including a
            .pdf that is not a PDF) or "no_text".
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not data:
        raise DocumentError("empty", f"{name} is empty.")
    if len(data) > max_bytes:
        raise DocumentError(
            "too_large", f"{name} is {len(data):,} bytes; the limit is {max_bytes:,} bytes."
        )
    stem, dot, ext = name.rpartition(".")
    ext = f".{ext.lower()}" if dot else ""
    if ext not in SUPPORTED_EXTENSIONS:
        raise DocumentError(
            "unsupported_type",
            f"{name}: unsupported file type {ext or '(no extension)'}; "
            f"supported: {', '.join(SUPPORTED_EXTENSIONS)}.",
        )
    stem = stem or name
    if ext == ".pdf":
        found_title, sections = parse_pdf(data, name)
    else:
        fmt = _FORMATS[ext]
        found_title, sections = _PARSERS[fmt](normalise(decode(data, name)))
    return finish(title or found_title or stem, sections, name)


def parse_text(
    text: str, *, title: str, fmt: Literal["markdown", "text", "html"] = "markdown"
) -> ParsedDocument:
    """Parse text given directly (a JSON upload) into sections.

    Args:
        text: The document body.
        title: Document title; wins over one found in the text.
        fmt: How to read ``text``.

    Returns:
        The parsed document.

    Raises:
        DocumentError: With code "no_text" when nothing but whitespace or markup remains.
    """
    found_title, sections = _PARSERS[fmt](normalise(text))
    return finish(title.strip() or found_title or "Untitled", sections, title)
