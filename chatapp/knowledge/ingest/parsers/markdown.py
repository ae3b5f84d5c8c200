"""Markdown (CommonMark subset plus front matter) to sections, with GitHub-style anchors."""

from __future__ import annotations

import re
from typing import Final

from chatapp.knowledge.ingest.parsers.base import LIST_ITEM_RE, Builder, Section

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


def strip_inline(text: str) -> str:
    """Replace links and images by their text (Markdown syntax is noise to search)."""
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


def join_lines(lines: list[str]) -> str:
    """Join a paragraph's lines: soft wraps become spaces, list items and table rows stay lines."""
    parts: list[str] = []  # separators and lines; joined once (huge paragraphs stay linear)
    hard = False
    for raw in lines:
        line = raw.strip()
        if parts:
            parts.append("\n" if hard or LIST_ITEM_RE.match(line) or line[:1] == "|" else " ")
        hard = line.endswith("\\") or raw.endswith("  ")
        parts.append(line.removesuffix("\\"))
    return strip_inline("".join(parts))


def parse_markdown(text: str) -> tuple[str | None, list[Section]]:
    """Return the front-matter title (else the first H1) and the sections of normalised text."""
    lines = text.split("\n")
    title, i = _front_matter(lines)
    b, para, seen = Builder(), list[str](), set[str]()
    first_h1: str | None = None
    after_list = False  # an indented line after a list item continues it, it is not code

    def end_para() -> None:
        nonlocal after_list
        if para:
            after_list = bool(LIST_ITEM_RE.match(para[-1]))
            b.add(join_lines(para))
            para.clear()

    def heading(level: int, raw: str) -> None:
        nonlocal first_h1
        end_para()
        text = re.sub(r"\*\*|__|[*`]", "", strip_inline(raw)).strip()
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
        elif para and setext and not LIST_ITEM_RE.match(para[0]):
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
