"""Parse uploaded documents (Markdown, plain text, HTML, PDF) into titled, heading-aware sections.

Every parser emits the same shape: sections whose text holds paragraphs separated by a blank line,
where a single newline inside a paragraph is meaningful (list item, table row, hard break) and
verbatim code is wrapped in Markdown fences, so the chunker treats all formats alike.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Final, Literal

from bs4 import BeautifulSoup, Tag
from bs4.element import NavigableString, PageElement, PreformattedString
from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from chatapp.knowledge.ingest.errors import DocumentError

SUPPORTED_EXTENSIONS: Final = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf")
MAX_HEADING_CHARS: Final = 120  # every chunk repeats its heading path, so bound what it costs
MAX_CONTROL_RATIO: Final = 0.01  # real text has almost no control characters; random bytes ~12%
PDF_HEADER_WINDOW: Final = 1024  # readers accept "%PDF-" anywhere in the first KiB

_FORMATS: Final[dict[str, Literal["markdown", "text", "html"]]] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
}
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
_LIST_ITEM_RE: Final = re.compile(r"^\s*(?:[-*+\u2022\u2013]|\d{1,3}[.)]|[a-z][.)])\s+")


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


class _Builder:
    """Collects blocks under a heading stack and cuts a Section at each heading or page."""

    def __init__(self) -> None:
        self.stack: list[_Heading] = []
        self.blocks: list[list[str]] = []  # paragraphs, each a list of lines
        self.sections: list[Section] = []
        self.page: int | None = None
        self._last_tight = False

    def heading(self, level: int, text: str, anchor: str | None) -> None:
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
        if self.blocks:
            anchor = next((h.anchor for h in reversed(self.stack) if h.anchor), None)
            path = tuple(h.text for h in self.stack)
            text = "\n\n".join("\n".join(lines) for lines in self.blocks)
            self.sections.append(Section(path, text, self.page, anchor))
        self.blocks = []
        self._last_tight = False


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
        found_title, sections = _parse_pdf(data, name)
    else:
        fmt = _FORMATS[ext]
        found_title, sections = _PARSERS[fmt](_normalise(_decode(data, name)))
    return _finish(title or found_title or stem, sections, name)


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
    found_title, sections = _PARSERS[fmt](_normalise(text))
    return _finish(title.strip() or found_title or "Untitled", sections, title)


def _finish(title: str, sections: list[Section], name: str) -> ParsedDocument:
    kept = tuple(s for s in sections if s.text.strip())
    if not kept:
        raise DocumentError("no_text", f"{name} contains no extractable text.")
    digest = hashlib.sha256()
    for section in kept:
        digest.update(" > ".join(section.heading_path).encode())
        digest.update(b"\n" + " ".join(section.text.split()).encode() + b"\n\n")
    return ParsedDocument(" ".join(title.split()), kept, digest.hexdigest())


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    # Postgres text columns refuse NUL; the other control characters only add index noise.
    return _CONTROL_RE.sub("", _INVISIBLE_RE.sub("", text.replace("\f", "\n\n")))


def _decode(data: bytes, name: str) -> str:
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


# --- Markdown -------------------------------------------------------------------------------

_FENCE_RE: Final = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ATX_RE: Final = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_RE: Final = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC_RE: Final = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_REFDEF_RE: Final = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+")
_TABLE_RULE_RE: Final = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_INLINE_SUBS: Final = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # image -> alt text
    (re.compile(r"\[([^\]]+)\]\((?:[^()\s]|\([^()]*\))*(?:\s+\"[^\"]*\")?\)"), r"\1"),  # link
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # reference link
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),  # autolink
)


def _strip_inline(text: str) -> str:
    for pattern, repl in _INLINE_SUBS:
        text = pattern.sub(repl, text)
    return text


def _slug(text: str, seen: set[str]) -> str | None:
    """GitHub-style anchor: lowercase, punctuation dropped, spaces to hyphens, -1/-2 on repeats."""
    base = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    if not base:
        return None
    slug, n = base, 0
    while slug in seen:
        n += 1
        slug = f"{base}-{n}"
    seen.add(slug)
    return slug


def _join_lines(lines: list[str]) -> str:
    """Join a paragraph's lines: soft wraps become spaces, list items and table rows stay lines."""
    parts: list[str] = []  # separators and lines; joined once (huge paragraphs stay linear)
    hard = False
    for raw in lines:
        line = raw.strip()
        if parts:
            parts.append("\n" if hard or _LIST_ITEM_RE.match(line) or line[:1] == "|" else " ")
        hard = line.endswith("\\") or raw.endswith("  ")
        parts.append(line.removesuffix("\\"))
    return _strip_inline("".join(parts))


def _parse_markdown(text: str) -> tuple[str | None, list[Section]]:
    lines = text.split("\n")
    title, i = _front_matter(lines)
    b, para, seen = _Builder(), list[str](), set[str]()
    first_h1: str | None = None
    after_list = False  # an indented line after a list item continues it, it is not code

    def end_para() -> None:
        nonlocal after_list
        if para:
            after_list = bool(_LIST_ITEM_RE.match(para[-1]))
            b.add(_join_lines(para))
            para.clear()

    def heading(level: int, raw: str) -> None:
        nonlocal first_h1
        end_para()
        text = re.sub(r"\*\*|__|[*`]", "", _strip_inline(raw)).strip()
        if level == 1 and first_h1 is None:
            first_h1 = text
        b.heading(level, text, _slug(text, seen))

    while i < len(lines):
        line = lines[i]
        fence, atx, setext = _FENCE_RE.match(line), _ATX_RE.match(line), _SETEXT_RE.match(line)
        if fence and not (fence[1][0] == "`" and "`" in fence[2]):
            end_para()
            marker, body, i = fence[1], [], i + 1
            close = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$")
            while i < len(lines) and not close.match(lines[i]):
                body.append(lines[i])
                i += 1
            b.add("\n".join([marker + fence[2].strip(), *body, marker]))
        elif atx:
            heading(len(atx[1]), atx[2] or "")
        elif para and setext and not _LIST_ITEM_RE.match(para[0]):
            raw = " ".join(para)
            para.clear()
            heading(1 if "=" in line else 2, raw)
        elif not line.strip() or _THEMATIC_RE.match(line):
            end_para()
        elif line.startswith(("    ", "\t")) and not para and not after_list:
            code = []
            while i < len(lines) and (lines[i].startswith(("    ", "\t")) or not lines[i].strip()):
                code.append(lines[i][4:] if lines[i].startswith("    ") else lines[i][1:])
                i += 1
            b.add("\n".join(["```", "\n".join(code).strip("\n"), "```"]))
            continue
        elif not (_REFDEF_RE.match(line) or (_TABLE_RULE_RE.match(line) and "|" in line)):
            para.append(re.sub(r"^\s*>\s?", "", line))
        i += 1
    end_para()
    b.flush()
    return title or first_h1, b.sections


def _front_matter(lines: list[str]) -> tuple[str | None, int]:
    """Read `title:` from a leading `---` block; return it and the first body line index."""
    if not lines or lines[0].strip() != "---":
        return None, 0
    for end in range(1, min(len(lines), 200)):
        if lines[end].strip() in ("---", "..."):
            title = None
            for line in lines[1:end]:
                key, sep, value = line.partition(":")
                if sep and key.strip().lower() == "title":
                    title = value.strip().strip("\"'") or None
            return title, end + 1
    return None, 0


# --- Plain text -----------------------------------------------------------------------------

_UNDERLINE_RE: Final = re.compile(r"^\s*(={3,}|-{3,})\s*$")
MAX_TEXT_HEADING_CHARS: Final = 80  # a longer "underlined" line is prose followed by a rule


def _parse_plain(text: str) -> tuple[str | None, list[Section]]:
    b, para = _Builder(), list[str]()
    title: str | None = None
    for line in text.split("\n"):
        underline = _UNDERLINE_RE.match(line)
        if underline and para and len(para[-1].strip()) <= MAX_TEXT_HEADING_CHARS:
            heading = para.pop().strip()
            if para:
                b.add(_join_lines(para))
                para.clear()
            level = 1 if underline[1][0] == "=" else 2
            if title is None and level == 1 and not b.sections and not b.blocks:
                title = heading
            b.heading(level, heading, None)
        elif not line.strip() or underline:
            if para:
                b.add(_join_lines(para))
                para.clear()
        else:
            para.append(line)
    if para:
        b.add(_join_lines(para))
    b.flush()
    return title, b.sections


# --- HTML -----------------------------------------------------------------------------------

_DROP_TAGS: Final = (
    "script",
    "style",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "noscript",
    "template",
    "iframe",
    "svg",
    "button",
    "select",
    "textarea",
    "object",
    "embed",
    "canvas",
)
_DROP_ROLES: Final = frozenset({"navigation", "banner", "contentinfo", "search"})
# Sphinx chrome (related bars, sidebar, footer, pilcrow permalinks) and common banners.
_DROP_CLASSES: Final = frozenset(
    {"related", "sphinxsidebar", "footer", "headerlink", "mobile-nav", "breadcrumbs"}
)
# Banner names, not bare "cookie": docs about HTTP cookies have ids like "cookie-jar-objects".
_BOILERPLATE_RE: Final = re.compile(
    r"cookie-?(?:banner|consent|notice|bar|popup|modal|law)|consent-?(?:banner|popup|manager)"
    r"|gdpr|skip-?(?:link|to-content|nav)",
    re.I,
)
MAX_BANNER_CHARS: Final = 2000  # an element matching a banner name but longer is content
_SKIP_LINK_RE: Final = re.compile(r"^\s*skip (?:to|navigation)", re.I)
_KEEP_TAGS: Final = frozenset({"html", "body", "main"})
_HEADING_LEVELS: Final = {f"h{n}": n for n in range(1, 7)}
_BLOCK_TAGS: Final = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "body",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "section",
        "summary",
        "ul",
    }
)


def _attr(tag: Tag, name: str) -> str:
    value = tag.get(name)
    return " ".join(value) if isinstance(value, list) else (value or "")


def _is_boilerplate(tag: Tag) -> bool:
    if tag.name in _DROP_TAGS or _attr(tag, "role") in _DROP_ROLES:
        return True
    if tag.name in _KEEP_TAGS or _attr(tag, "role") == "main":
        return False
    classes = set(_attr(tag, "class").split())
    if classes & _DROP_CLASSES or tag.has_attr("hidden") or _attr(tag, "aria-hidden") == "true":
        return True
    if "display:none" in _attr(tag, "style").replace(" ", ""):
        return True
    if tag.name == "a" and _SKIP_LINK_RE.match(tag.get_text()):
        return True
    if not _BOILERPLATE_RE.search(f"{_attr(tag, 'id')} {_attr(tag, 'class')}"):
        return False
    return len(tag.get_text()) <= MAX_BANNER_CHARS


def _parse_html(text: str) -> tuple[str | None, list[Section]]:
    soup = BeautifulSoup(text, "html.parser")
    title = None
    if soup.title is not None and soup.title.get_text().strip():
        # "Page — Site" / "Page | Site": keep the page part.
        title = re.split(r"\s+[\u2014\u2013|]\s+", soup.title.get_text().strip())[0].strip()
        title = None if title.lower() in ("<no title>", "untitled") else title  # Sphinx stubs
    # Top-down, skipping dropped subtrees (Tag.decomposed is a quadratic tree search here).
    pending: list[Tag] = [soup]
    while pending:
        for child in list(pending.pop().children):
            if isinstance(child, Tag):
                if _is_boilerplate(child):
                    child.decompose()
                else:
                    pending.append(child)
    if not title and (h1 := soup.find("h1")) is not None:
        title = " ".join(h1.get_text().split())
    root = (
        soup.find("main")
        or soup.find(role="main")
        or soup.find("div", class_="body")
        or soup.body
        or soup
    )
    walker = _HtmlWalker()
    walker.run(root)
    return title or None, walker.b.sections


class _HtmlWalker:
    """Walks the DOM iteratively (deep nesting must not hit the recursion limit)."""

    def __init__(self) -> None:
        self.b = _Builder()
        self.inline: list[str] = []
        self.prefix = ""
        self.list_depth = 0
        self.consumed: set[int] = set()  # ids of <dt> already used as a heading
        self.scopes: dict[int, int] = {}  # id(<dl>) -> heading-stack depth to restore on exit
        self.numbers: dict[int, int] = {}  # id(<ol>) -> number of its last item

    def run(self, root: PageElement) -> None:
        stack: list[tuple[PageElement, bool]] = [(root, False)]
        while stack:
            node, leaving = stack.pop()
            if isinstance(node, Tag) and leaving:
                self._leave(node)
            elif isinstance(node, NavigableString):
                if not isinstance(node, PreformattedString):  # comments, doctypes, CDATA
                    self.inline.append(re.sub(r"\s+", " ", str(node)))
            elif isinstance(node, Tag) and self._enter(node):
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(node.contents))
        self.flush()
        self.b.flush()

    def flush(self) -> None:
        lines = (" ".join(line.split()) for line in "".join(self.inline).split("\n"))
        self.inline = []
        text = "\n".join(line for line in lines if line)
        if text:
            self.b.add(self.prefix + text, tight=self.list_depth > 0)
            self.prefix = ""

    def _enter(self, tag: Tag) -> bool:
        name = tag.name
        if name in _HEADING_LEVELS:
            self.flush()
            self.b.heading(_HEADING_LEVELS[name], tag.get_text(), self._anchor(tag))
            return False
        if name == "br":
            self.inline.append("\n")
            return False
        if name in ("pre", "table"):
            self.flush()
            self.b.add(_pre_block(tag) if name == "pre" else _table_block(tag))
            return False
        if name == "img" or id(tag) in self.consumed:
            return False
        if name in _BLOCK_TAGS:
            self.flush()
        if name in ("ul", "ol"):
            self.list_depth += 1
        elif name == "li":
            parent = tag.parent
            if parent is not None and parent.name == "ol":
                start = int(_attr(parent, "start")) if _attr(parent, "start").isdigit() else 1
                number = self.numbers[id(parent)] = self.numbers.get(id(parent), start - 1) + 1
                self.prefix = f"{number}. "
            else:
                self.prefix = "- "
        elif name == "dl":
            dt = tag.find("dt", recursive=False)
            # Sphinx API entries (<dl class="py function"><dt class="sig" id="abs">) act as
            # headings so each function gets its own section and deep link.
            if isinstance(dt, Tag) and "sig" in _attr(dt, "class").split():
                self.consumed.add(id(dt))
                self.scopes[id(tag)] = len(self.b.stack)
                level = self.b.stack[-1].level + 1 if self.b.stack else 1
                target = tag.find_previous_sibling()  # Sphinx puts some ids on a span.target
                anchor = _attr(dt, "id") or (
                    _attr(target, "id") if isinstance(target, Tag) and target.name == "span" else ""
                )
                self.b.heading(level, dt.get_text(), anchor)
        return True

    def _leave(self, tag: Tag) -> None:
        if tag.name in _BLOCK_TAGS:
            self.flush()
        if tag.name in ("ul", "ol"):
            self.list_depth -= 1
        elif tag.name == "li":
            self.prefix = ""  # an item without text must not mark the next paragraph
        if id(tag) in self.scopes:
            self.b.flush()
            del self.b.stack[self.scopes.pop(id(tag)) :]

    @staticmethod
    def _anchor(tag: Tag) -> str | None:
        if tag.get("id"):
            return _attr(tag, "id")
        parent = tag.parent
        if (
            parent is not None
            and parent.name in ("section", "div", "article")
            and parent.get("id")
            and parent.find(list(_HEADING_LEVELS)) is tag
        ):
            return _attr(parent, "id")
        return None


def _pre_block(tag: Tag) -> str:
    code = tag.get_text().strip("\n").rstrip()
    fence = "```"
    while fence in code:
        fence += "`"
    return f"{fence}\n{code}\n{fence}" if code.strip() else ""


def _table_block(tag: Tag) -> str:
    rows = []
    for tr in tag.find_all("tr"):
        cells = (" ".join(cell.get_text(" ").split()) for cell in tr.find_all(["td", "th"]))
        rows.append(" | ".join(cell for cell in cells if cell))
    return "\n".join(row for row in rows if row)


# --- PDF ------------------------------------------------------------------------------------

_PAGE_NUMBER_RE: Final = re.compile(r"^(?:page\s*)?\d{1,3}(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)
_DIGITS_RE: Final = re.compile(r"\d+")
_EDGE_NUMBER_RE: Final = re.compile(r"^(\d{1,4})\s|\s(\d{1,4})$")  # page number at either end
_CODE_CHARS_RE: Final = re.compile(r"[={};<>_]|::|--")  # lines like "Version ::= INTEGER"
_NUMBERED_HEADING_RE: Final = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+[A-Z]")
_BAD_PDF_TITLE_RE: Final = re.compile(r"^(untitled|microsoft word - )|\.(docx?|pdf|odt)$", re.I)
MAX_PDF_HEADING_CHARS: Final = 70  # longer lines are almost always wrapped prose


def _parse_pdf(data: bytes, name: str) -> tuple[str | None, list[Section]]:
    if b"%PDF-" not in data[:PDF_HEADER_WINDOW]:
        raise DocumentError("corrupt", f"{name} is not a PDF file (no %PDF header).")
    # pypdf raises many exception types (PdfReadError, ValueError, KeyError, ...) on damaged
    # files; all of them mean the same thing to an admin.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise DocumentError("encrypted", f"{name} is password-protected; upload it unlocked.")
        pages = [_normalise(page.extract_text() or "") for page in reader.pages]
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
    b = _Builder()
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


def _pdf_page(b: _Builder, lines: list[str]) -> None:
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
    if not words or _LIST_ITEM_RE.match(line):
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
        elif _LIST_ITEM_RE.match(line):
            parts.append("\n" + line)
        elif parts[-1].endswith("-") and line[:1].islower():  # word hyphenated across lines
            parts[-1] = parts[-1][:-1]
            parts.append(line)
        else:
            parts.append(" " + line)
    return "".join(parts)


_PARSERS: Final = {"markdown": _parse_markdown, "text": _parse_plain, "html": _parse_html}
