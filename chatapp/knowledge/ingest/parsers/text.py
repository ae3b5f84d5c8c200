"""Plain text to sections: paragraphs, with underlined (setext-style) lines as headings."""

from __future__ import annotations

import re
from typing import Final

from chatapp.knowledge.ingest.parsers.base import Builder, Section
from chatapp.knowledge.ingest.parsers.markdown import join_lines

_UNDERLINE_RE: Final = re.compile(r"^\s*(={3,}|-{3,})\s*$")
MAX_TEXT_HEADING_CHARS: Final = 80  # a longer "underlined" line is prose followed by a rule


def parse_plain(text: str) -> tuple[str | None, list[Section]]:
    """Return the first underlined (===) heading as title, and the sections of normalised text."""
    b, para = Builder(), list[str]()
    title: str | None = None
    for line in text.split("\n"):
        underline = _UNDERLINE_RE.match(line)
        if underline and para and len(para[-1].strip()) <= MAX_TEXT_HEADING_CHARS:
            heading = para.pop().strip()
            if para:
                b.add(join_lines(para))
                para.clear()
            level = 1 if underline[1][0] == "=" else 2
            if title is None and level == 1 and not b.sections and not b.blocks:
                title = heading
            b.heading(level, heading, None)
        elif not line.strip() or underline:
            if para:
                b.add(join_lines(para))
                para.clear()
        else:
            para.append(line)
    if para:
        b.add(join_lines(para))
    b.flush()
    return title, b.sections
