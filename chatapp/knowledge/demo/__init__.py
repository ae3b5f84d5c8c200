"""The demo help centre (Lumen & Oak): its pages, their front matter, and the eval questions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
QUESTIONS_FILE = DEMO_DIR / "questions.jsonl"


@dataclass(frozen=True)
class DemoPage:
    path: Path
    text: str
    title: str
    source_url: str


def front_matter(text: str) -> dict[str, str]:
    """The ``key: value`` lines between a leading pair of ``---`` lines (no YAML needed)."""
    if not text.startswith("---\n"):
        return {}
    head = text[4:].partition("\n---")[0]
    meta = {}
    for line in head.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip()] = value.strip()
    return meta


def demo_pages() -> list[DemoPage]:
    """Every demo page in file-name order."""
    pages = []
    for path in sorted((DEMO_DIR / "pages").glob("*.md")):
        text = path.read_text()
        meta = front_matter(text)
        pages.append(
            DemoPage(path, text, meta.get("title") or path.stem, meta.get("source_url", ""))
        )
    return pages
