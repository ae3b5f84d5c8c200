"""Benchmark corpora: the Python 3.11 docs and the demo help centre, indexed once and cached."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import EVAL_DIR, Progress, vacuum_analyze
from chatapp.knowledge.demo import QUESTIONS_FILE, demo_pages, front_matter

DOCS_PACKAGE = "python3.11-doc"
DOCS_DEFAULT_ROOT = Path("/usr/share/doc/python3.11/html")
DOCS_URL = "https://docs.python.org/3.11/"
DOCS_KB = "bench: Python 3.11 documentation"
DEMO_KB = "bench: Lumen & Oak help centre"
# Bump when the way the corpus is indexed changes without the files changing.
CORPUS_VERSION = "1"
INDEX_BATCH_DOCUMENTS = 64
# Sphinx's generated navigation pages (term indexes, module index, search page, the table of
# contents) hold no prose, only titles; faq/ is the evaluation set and must not be in the index.
SKIP_PREFIXES = ("faq/", "genindex", "py-modindex", "search.html", "contents.html", "_")


class CorpusMissing(RuntimeError):
    """The Python documentation is not installed and cannot be installed here."""


def docs_root() -> Path:
    """Find the Python 3.11 HTML docs, installing the Debian package when missing and root.

    Raises:
        CorpusMissing: Not installed, and this is not a root Debian machine with apt-get.
    """
    found = _docs_root_installed()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise CorpusMissing(
            f"the Python docs ({DOCS_PACKAGE}) are not installed; as root run "
            f"`apt-get install -y --no-install-recommends {DOCS_PACKAGE}` and run the bench again"
        )
    print(f"installing {DOCS_PACKAGE} (apt-get)...", file=sys.stderr, flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    done = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", DOCS_PACKAGE], check=False
    )
    found = _docs_root_installed()
    if done.returncode != 0 or found is None:
        raise CorpusMissing(f"apt-get could not install {DOCS_PACKAGE}")
    return found


def _docs_root_installed() -> Path | None:
    if (DOCS_DEFAULT_ROOT / "index.html").is_file():
        return DOCS_DEFAULT_ROOT
    if shutil.which("dpkg") is None:
        return None
    listing = subprocess.run(["dpkg", "-L", DOCS_PACKAGE], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        if line.endswith("/html/index.html"):
            return Path(line).parent
    return None


def docs_pages(root: Path) -> list[str]:
    """The pages to index, relative to ``root``, sorted."""
    pages = []
    for path in root.rglob("*.html"):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(SKIP_PREFIXES):
            pages.append(rel)
    return sorted(pages)


@dataclass(frozen=True)
class FaqQuestion:
    question: str
    linked: tuple[tuple[str, str], ...]  # (page, anchor) pairs

    @property
    def pages(self) -> frozenset[str]:
        return frozenset(page for page, _ in self.linked)


def faq_questions() -> list[FaqQuestion]:
    """The Python FAQ questions whose answers link documentation pages (87)."""
    rows = [json.loads(line) for line in (EVAL_DIR / "python_faq.jsonl").read_text().splitlines()]
    out = []
    for row in rows:
        linked = tuple(
            (doc.partition("#")[0], doc.partition("#")[2])
            for doc in row.get("linked_docs") or []
            if not doc.startswith("faq/")
        )
        if linked:
            out.append(FaqQuestion(row["question"], linked))
    return out


def demo_questions() -> list[dict[str, Any]]:
    return [json.loads(line) for line in QUESTIONS_FILE.read_text().splitlines() if line.strip()]


def _settings_fingerprint(embedder_name: str) -> str:
    from django.conf import settings

    return (
        f"v{CORPUS_VERSION} model={embedder_name} "
        f"chunk={settings.CHATAPP_CHUNK_MAX_TOKENS}/{settings.CHATAPP_CHUNK_OVERLAP_TOKENS}"
    )


@dataclass(frozen=True)
class _Source:
    key: str  # the document's filename (HTML pages) or source URL (demo pages)
    title: str
    filename: str
    source_url: str
    raw: bytes


def _index(kb_name: str, sources: list[_Source], embedder: Any, label: str) -> tuple[int, bool]:
    """Bring knowledge base ``kb_name`` in line with ``sources``, indexing only what changed.

    A document is kept when its key and content hash match and it is ready; the knowledge base
    is rebuilt when the embedding model or the chunking settings differ from its stamp.

    Returns:
        The knowledge base id and whether anything was (re)indexed now.
    """
    from chatapp.knowledge.indexing import documents_index
    from chatapp.knowledge.models import Document, KnowledgeBase

    stamp = "bench corpus: " + _settings_fingerprint(embedder.name)
    kb = KnowledgeBase.objects.filter(name=kb_name).first()
    if kb is not None and kb.description != stamp:
        kb.delete()
        kb = None
    if kb is None:
        kb = KnowledgeBase.objects.create(name=kb_name, description=stamp, is_default=False)
    existing = {
        (d.filename or d.source_url): d
        for d in Document.objects.filter(knowledge_base=kb).only(
            "id", "filename", "source_url", "content_hash", "status"
        )
    }
    wanted = {src.key for src in sources}
    stale = [d.pk for key, d in existing.items() if key not in wanted]
    Document.objects.filter(pk__in=stale).delete()
    todo = []
    for src in sources:
        doc = existing.get(src.key)
        digest = hashlib.sha256(src.raw).hexdigest()
        if doc is not None and doc.content_hash == digest and doc.status == "ready":
            continue
        if doc is not None:
            doc.delete()
        todo.append((src, digest))
    print(
        f"{label}: {len(sources) - len(todo)} documents cached, {len(todo)} to index, "
        f"{len(stale)} removed",
        file=sys.stderr,
        flush=True,
    )
    progress = Progress(f"index {label}", len(todo), "pages")
    chunks = 0
    # The bulk path: many documents' chunks embedded per model call, swapped in together
    # (one document at a time ran ~0.1 short pages/s on 2 busy cores).
    for start in range(0, len(todo), INDEX_BATCH_DOCUMENTS):
        part = todo[start : start + INDEX_BATCH_DOCUMENTS]
        ids = [
            Document.objects.create(
                knowledge_base=kb, title=src.title, filename=src.filename,
                source_url=src.source_url, raw=src.raw, content_hash=digest,
            ).pk
            for src, digest in part
        ]  # fmt: skip
        results = documents_index(document_ids=ids, embedder=embedder, batch_size=32)
        chunks += sum(Document.objects.get(pk=i).chunk_count for i in results)
        progress.advance(len(part), note=f"{chunks} chunks")
    if todo or stale:
        vacuum_analyze()
    return kb.pk, bool(todo or stale)


def docs_kb_ensure(embedder: Any) -> tuple[int, bool]:
    """Index the Python docs (all pages but faq/ and Sphinx's index pages) once.

    Raises:
        CorpusMissing: The docs are not installed and cannot be.
    """
    root = docs_root()
    sources = [
        _Source(rel, rel, rel, DOCS_URL + rel, (root / rel).read_bytes())
        for rel in docs_pages(root)
    ]
    return _index(DOCS_KB, sources, embedder, "python docs")


def demo_kb_ensure(embedder: Any) -> tuple[int, bool]:
    """Index the demo help centre the way ``manage.py load_demo`` does (Markdown text)."""
    sources = [
        _Source(p.source_url or p.path.name, p.title, "", p.source_url, p.text.encode())
        for p in demo_pages()
    ]
    return _index(DEMO_KB, sources, embedder, "demo")


SETS_DIR = Path(__file__).resolve().parent / "data" / "sets"


@dataclass(frozen=True)
class EvalSet:
    """A help centre and questions with the facts a right answer holds.

    ``split`` tells a question used to choose settings ("tune") from one kept out of every
    choice ("held-out"); the sets under bench/data/sets were written after the settings were
    chosen on the demo's tune split and are all held out.
    """

    name: str
    questions: tuple[dict[str, Any], ...]
    sources: tuple[_Source, ...]


def demo_split(question: str) -> str:
    """A fixed third of the demo questions is held out of tuning (by a hash, not by position)."""
    digest = hashlib.sha256(question.encode()).digest()
    return "held-out" if digest[0] % 3 == 0 else "tune"


def eval_sets() -> list[EvalSet]:
    """The demo help centre, then every set under bench/data/sets (in name order)."""
    demo = EvalSet(
        "demo",
        tuple({**q, "split": demo_split(q["question"])} for q in demo_questions()),
        tuple(
            _Source(p.source_url or p.path.name, p.title, "", p.source_url, p.text.encode())
            for p in demo_pages()
        ),
    )
    out = [demo]
    for folder in sorted(SETS_DIR.glob("*/")):
        questions = folder / "questions.jsonl"
        if not questions.is_file():
            continue
        sources = []
        for path in sorted((folder / "pages").glob("*.md")):
            text = path.read_text()
            meta = front_matter(text)
            url = meta.get("source_url", "")
            sources.append(
                _Source(url or path.name, meta.get("title") or path.stem, "", url, text.encode())
            )
        rows = [json.loads(line) for line in questions.read_text().splitlines() if line.strip()]
        out.append(
            EvalSet(folder.name, tuple({**q, "split": "held-out"} for q in rows), tuple(sources))
        )
    return out


def eval_set_kb_ensure(eval_set: EvalSet, embedder: Any) -> tuple[int, bool]:
    """Index one eval set's pages as a knowledge base of its own (the demo's is shared)."""
    if eval_set.name == "demo":
        return demo_kb_ensure(embedder)
    return _index(
        f"bench: {eval_set.name} help centre", list(eval_set.sources), embedder, eval_set.name
    )


def documents_by_key(kb_id: int) -> dict[int, str]:
    """Document id → page key (docs: the relative path; demo: the page file name)."""
    from chatapp.knowledge.models import Document

    docs = Document.objects.filter(knowledge_base_id=kb_id).values_list(
        "id", "filename", "source_url"
    )
    out = {}
    by_url = {page.source_url: page.path.name for page in demo_pages()}
    for doc_id, filename, url in docs:
        out[doc_id] = filename or by_url.get(url, "")
    return out
