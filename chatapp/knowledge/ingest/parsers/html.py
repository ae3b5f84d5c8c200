"""HTML to sections: page chrome and banners dropped, Sphinx API entries kept as headings."""

from __future__ import annotations

import re
from typing import Final

from bs4 import BeautifulSoup, Tag
from bs4.element import NavigableString, PageElement, PreformattedString

from chatapp.knowledge.ingest.parsers.base import Builder, Section

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


def parse_html(text: str) -> tuple[str | None, list[Section]]:
    """Return the <title> page part (else the first <h1>) and the sections of the main content."""
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
        self.b = Builder()
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
