"""Bulk import of files, folders and globs into a knowledge base (``manage.py kb_import``).

An import is an import job (``jobs``), as a bulk request to the API is. Each file is read and
parsed here first, so a broken one is refused with its reason before a Document exists, then
added to the job; closing the job sends its batch tasks to the workers (or
``document_import_index`` runs the batches in this process) and ``document_import_wait``
follows the documents.

A file's stored name (``Document.filename``, the key a re-import matches on) is its path relative
to the parent of the folder it was found through: importing ``docs``, ``'docs/**/*.md'`` or
``docs/faq.md`` all store ``docs/faq.md``, whatever the current directory.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Literal

from django.conf import settings

from chatapp.core.errors import ApplicationError
from chatapp.knowledge.embedding import embed_batch_size, index_batch_limits
from chatapp.knowledge.indexing import documents_index
from chatapp.knowledge.ingest.errors import DocumentError
from chatapp.knowledge.ingest.parsers import SUPPORTED_EXTENSIONS, parse_document
from chatapp.knowledge.jobs import (
    BatchReport,
    ImportSource,
    import_job_add,
    import_job_close,
    import_job_create,
    import_job_run,
)
from chatapp.knowledge.models import Document, ImportJob, KnowledgeBase
from chatapp.knowledge.services import knowledge_base_create
from workers.inference.base import Embedder

logger = logging.getLogger(__name__)

Action = Literal["queued", "unchanged", "refused"]

POLL_S: Final = 1.0  # status poll while waiting: one indexed query, cheap next to embedding
TITLE_MAX_CHARS: Final = 500  # Document.title max_length
ERR_NO_KB = "No knowledge base is named or numbered {ref!r}."
ERR_MISSING = "no such file or folder"
ERR_NO_MATCH = "no file matches this pattern"
ERR_NO_SUPPORTED = "no supported files ({extensions}) here"
ERR_NAME_CLASH = "same stored name as {other}; import one of them from another folder"
ERR_UNREADABLE = "cannot read the file: {error}"

_IN_PROGRESS: Final = frozenset({Document.Status.QUEUED, Document.Status.INDEXING})


@dataclass(frozen=True)
class ImportFile:
    """A file found for import.

    Attributes:
        path: Where it is on disk.
        name: Its stored name: a POSIX path relative to the parent of the folder it was found
            through (the folder argument, a glob's leading folder, or a file argument's folder).
    """

    path: Path
    name: str


@dataclass(frozen=True)
class ImportOutcome:
    """What happened to one file (or to a path argument that matched no file).

    Attributes:
        name: The stored name, or the argument as given when it matched no file.
        action: ``queued`` (new or changed content), ``unchanged`` (same content already
            there), or ``refused`` (nothing stored; see ``reason``).
        reason: Why it was refused or why indexing failed; empty otherwise.
        document_id: The Document, unless refused.
        status: The Document's last known status, unless refused.
        chunk_count: Chunks indexed, once ready.
        job_id: The import job it is an item of.
    """

    name: str
    action: Action
    reason: str = ""
    document_id: int | None = None
    status: str | None = None
    chunk_count: int = 0
    job_id: int | None = None

    @property
    def failed(self) -> bool:
        """Refused, or indexing failed."""
        return self.action == "refused" or self.status == Document.Status.FAILED

    @property
    def in_progress(self) -> bool:
        """Stored but not indexed yet (queued for a worker or being indexed)."""
        return self.status in _IN_PROGRESS


@dataclass(frozen=True)
class ImportProgress:
    """A progress snapshot for a progress bar.

    Attributes:
        done: Items finished (read, or indexed/failed).
        total: Items in this phase.
        failed: Finished items that were refused or failed.
        waiting: Documents still ``queued``, i.e. no worker has picked them up yet.
    """

    done: int
    total: int
    failed: int
    waiting: int = 0


ProgressFn = Callable[[ImportProgress], None]


def knowledge_base_resolve(*, ref: str, create: bool = False) -> KnowledgeBase:
    """Find a knowledge base by name, else by id; optionally create it by name.

    Args:
        ref: A name (matched first) or a numeric id.
        create: Create a knowledge base named ``ref`` when none matches.

    Returns:
        The knowledge base.

    Raises:
        ApplicationError: ``not_found`` (404) when none matches and ``create`` is False;
            ``invalid`` for a blank name (from ``knowledge_base_create``).
    """
    kb = KnowledgeBase.objects.filter(name=ref.strip()).first()
    if kb is None and ref.strip().isdigit():
        kb = KnowledgeBase.objects.filter(pk=int(ref)).first()
    if kb is not None:
        return kb
    if not create:
        raise ApplicationError("not_found", ERR_NO_KB.format(ref=ref), status=404)
    return knowledge_base_create(name=ref)


def import_paths_expand(paths: Sequence[str]) -> tuple[list[ImportFile], list[ImportOutcome]]:
    """Expand files, folders (recursively) and globs into the files to import.

    Folders and globs keep supported extensions only and skip hidden entries (``.git``); a
    file named directly is kept whatever its type, so that ``parse_document`` says why it is
    refused. A file reached twice is kept once; two files with the same stored name are not.

    Args:
        paths: Command-line arguments; globs may use ``**``.

    Returns:
        The files in argument order (sorted within an argument), and a ``refused`` outcome for
        each argument that matched no file and each stored-name clash.
    """
    files: list[ImportFile] = []
    refused: list[ImportOutcome] = []
    seen_paths: set[Path] = set()
    seen_names: dict[str, Path] = {}
    for arg in paths:
        found, error = _expand_one(arg)
        if error:
            refused.append(ImportOutcome(name=arg, action="refused", reason=error))
        for file in found:
            real = file.path.resolve()
            if real in seen_paths:
                continue
            seen_paths.add(real)
            if file.name in seen_names:
                reason = ERR_NAME_CLASH.format(other=seen_names[file.name])
                refused.append(ImportOutcome(name=str(file.path), action="refused", reason=reason))
                continue
            seen_names[file.name] = file.path
            files.append(file)
    return files, refused


def _expand_one(arg: str) -> tuple[list[ImportFile], str]:
    path = Path(arg).expanduser()
    if path.is_file():
        return [ImportFile(path, _stored_name(path, path.parent))], ""
    if path.is_dir():
        found = [ImportFile(p, _stored_name(p, path)) for p in _walk(path) if _supported(p)]
        return found, "" if found else _no_supported()
    if not glob.has_magic(arg):
        return [], ERR_MISSING
    root = _glob_root(path)
    matches = sorted(glob.glob(os.path.expanduser(arg), recursive=True))
    candidates = [p for m in matches for p in (_walk(Path(m)) if Path(m).is_dir() else [Path(m)])]
    found = [ImportFile(p, _stored_name(p, root)) for p in candidates if _supported(p)]
    if found:
        return found, ""
    return [], _no_supported() if matches else ERR_NO_MATCH


def _walk(folder: Path) -> list[Path]:
    """Files under ``folder``, sorted, not following links to folders (no cycles)."""
    found: list[Path] = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(top, n) for n in sorted(names) if not n.startswith("."))
    return found


def _glob_root(pattern: Path) -> Path:
    """The leading folders of a glob pattern, up to its first wildcard part."""
    parts: list[str] = []
    for part in pattern.parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path()


def _stored_name(path: Path, root: Path) -> str:
    # Normalised, not resolved: a symlinked file keeps the name it has in the imported folder.
    root = Path(os.path.normpath(root.absolute()))
    full = Path(os.path.normpath(path.absolute()))
    try:
        return Path(root.name, full.relative_to(root)).as_posix()
    except ValueError:  # a glob that climbs out of its leading folder ("docs/*/../x.md")
        return Path(full.parent.name, full.name).as_posix()


def _supported(path: Path) -> bool:
    return path.name.lower().endswith(SUPPORTED_EXTENSIONS) and not path.name.startswith(".")


def _no_supported() -> str:
    return ERR_NO_SUPPORTED.format(extensions=", ".join(SUPPORTED_EXTENSIONS))


def document_import_paths(
    *,
    knowledge_base: KnowledgeBase,
    paths: Sequence[str],
    queue: bool = True,
    progress: ProgressFn | None = None,
) -> list[ImportOutcome]:
    """Import files, folders and globs as one import job: parse each file, then store it.

    Each file commits on its own, so an interrupted import keeps what it stored and a re-run
    reports those files ``unchanged`` (and indexes them if they never were). A file whose
    stored name is already in the knowledge base replaces that document's content (keeping its
    title) when its bytes changed. The job is closed at the end, even when interrupted, which
    sends its batch tasks.

    Args:
        knowledge_base: Where the documents go.
        paths: Files, folders (searched recursively) and globs.
        queue: Send the job's batch tasks to the workers; False leaves the documents
            ``queued`` for ``document_import_index``.
        progress: Called after each file with the files read so far.

    Returns:
        One outcome per file, after one per argument that matched nothing or clashed.
    """
    files, outcomes = import_paths_expand(paths)
    existing = {
        filename: (title, content_hash, status)
        for filename, title, content_hash, status in Document.objects.filter(
            knowledge_base=knowledge_base, filename__in=[f.name for f in files]
        )
        # Newest first, so the dict keeps the oldest: the one an upload replaces.
        .order_by("-pk")
        .values_list("filename", "title", "content_hash", "status")
    }
    job = import_job_create(knowledge_base=knowledge_base, source="kb_import")
    try:
        if outcomes:
            import_job_add(
                job=job, sources=[ImportSource(name=o.name, error=o.reason) for o in outcomes]
            )
        failed = 0
        for done, file in enumerate(files, start=1):
            outcome = _import_one(job, file, existing.get(file.name))
            outcomes.append(outcome)
            failed += outcome.failed
            if progress is not None:
                progress(ImportProgress(done=done, total=len(files), failed=failed))
    finally:
        import_job_close(job=job, queue=queue)
    return [replace(o, job_id=job.pk) for o in outcomes]


def _import_one(
    job: ImportJob, file: ImportFile, existing: tuple[str, str, str] | None
) -> ImportOutcome:
    max_bytes = settings.CHATAPP_UPLOAD_MAX_BYTES
    try:
        size = file.path.stat().st_size
        if size > max_bytes:  # refuse before reading a huge file into memory
            raise DocumentError(
                "too_large",
                f"{file.path.name} is {size:,} bytes; the limit is {max_bytes:,} bytes.",
            )
        data = file.path.read_bytes()
        if existing is not None and _is_same(existing, data):
            title = existing[0]  # the job will find it unchanged: skip the parse
        else:
            parsed = parse_document(data, filename=file.name, max_bytes=max_bytes)
            title = existing[0] if existing else parsed.title[:TITLE_MAX_CHARS]
    except DocumentError as exc:
        return _refused(job, file.name, f"{exc.code}: {exc}")
    except OSError as exc:
        return _refused(job, file.name, ERR_UNREADABLE.format(error=exc.strerror or exc))
    (added,) = import_job_add(
        job=job,
        sources=[ImportSource(name=file.name, title=title, data=data, filename=file.name)],
    )
    doc = added.document
    if doc is None:
        return ImportOutcome(name=file.name, action="refused", reason=added.item.error)
    return ImportOutcome(
        name=file.name,
        action="queued" if added.stored else "unchanged",
        reason=doc.error,
        document_id=doc.pk,
        status=doc.status,
        chunk_count=doc.chunk_count,
    )


def _refused(job: ImportJob, name: str, reason: str) -> ImportOutcome:
    import_job_add(job=job, sources=[ImportSource(name=name, error=reason)])
    return ImportOutcome(name=name, action="refused", reason=reason)


def _is_same(existing: tuple[str, str, str], data: bytes) -> bool:
    _, content_hash, status = existing
    same_bytes = content_hash == hashlib.sha256(data).hexdigest()
    return same_bytes and status != Document.Status.FAILED


def document_import_index(
    *,
    outcomes: Sequence[ImportOutcome],
    embedder: Embedder,
    progress: ProgressFn | None = None,
) -> list[ImportOutcome]:
    """Index in this process every imported document that is not indexed yet (no workers).

    The batches are those the workers would run: the import job's queued documents, embedded
    together. A document that fails (refused by its parser, or crashing the model) is reported
    failed with its reason and the others still run. Documents of no job (outcomes made by
    hand) are indexed the same way, in batches of their own.

    Args:
        outcomes: From ``document_import_paths(..., queue=False)``.
        embedder: The loaded embedding model.
        progress: Called after each document with the documents indexed or failed so far.

    Returns:
        The outcomes with the documents' final status, chunk count and error.
    """
    todo = {
        o.document_id: i
        for i, o in enumerate(outcomes)
        if o.in_progress and o.document_id is not None
    }
    result = list(outcomes)
    total = len(todo)
    tally = [0, 0]  # done, failed

    def settle(document_ids: Sequence[int]) -> None:
        rows = Document.objects.filter(pk__in=document_ids).values_list(
            "pk", "status", "error", "chunk_count"
        )
        for pk, status, error, chunk_count in sorted(rows, key=lambda r: todo.get(r[0], 0)):
            i = todo.pop(pk, None)
            if i is None or status in _IN_PROGRESS:
                if i is not None:
                    todo[pk] = i  # superseded: indexed again below
                continue
            result[i] = replace(result[i], status=status, reason=error, chunk_count=chunk_count)
            tally[0] += 1
            tally[1] += result[i].failed
            if progress is not None:
                progress(ImportProgress(done=tally[0], total=total, failed=tally[1]))

    def on_batch(report: BatchReport) -> None:
        settle([item.document_id for item in report.items if item.document_id is not None])

    for job_id in sorted({o.job_id for o in outcomes if o.job_id is not None and todo}):
        import_job_run(job_id=job_id, embedder=embedder, progress=on_batch)
    max_docs, _ = index_batch_limits()
    while todo:
        batch = sorted(todo, key=lambda pk: todo[pk])[:max_docs]
        documents_index(document_ids=batch, embedder=embedder, batch_size=embed_batch_size())
        before = len(todo)
        settle(batch)
        if len(todo) == before:  # nothing settled (deleted meanwhile): stop
            break
    return result


def document_import_refresh(outcomes: Sequence[ImportOutcome]) -> list[ImportOutcome]:
    """Re-read the status, error and chunk count of the imported documents (one query)."""
    ids = [o.document_id for o in outcomes if o.document_id is not None]
    rows = {
        pk: (status, error, chunk_count)
        for pk, status, error, chunk_count in Document.objects.filter(pk__in=ids).values_list(
            "pk", "status", "error", "chunk_count"
        )
    }
    result = []
    for o in outcomes:
        row = rows.get(o.document_id) if o.document_id is not None else None
        if row is None:  # refused, or deleted meanwhile: keep what we knew
            result.append(o)
        else:
            result.append(replace(o, status=row[0], reason=row[1], chunk_count=row[2]))
    return result


def document_import_wait(
    *,
    outcomes: Sequence[ImportOutcome],
    timeout_s: float | None = None,
    poll_s: float = POLL_S,
    progress: ProgressFn | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[ImportOutcome]:
    """Wait for the retrieval workers to index the imported documents, polling their status.

    Args:
        outcomes: From ``document_import_paths``.
        timeout_s: Stop waiting after this long; None waits until every document is done.
        poll_s: Seconds between polls.
        progress: Called after each poll with the documents indexed or failed so far.
        sleep: Waits between polls (tests pass a fake worker).
        clock: Monotonic seconds, for the timeout.

    Returns:
        The outcomes with the last status seen; documents still ``in_progress`` timed out.
    """
    tracked = {o.document_id for o in outcomes if o.in_progress}
    if not tracked:
        return list(outcomes)
    deadline = None if timeout_s is None else clock() + timeout_s
    while True:
        outcomes = document_import_refresh(outcomes)
        mine = [o for o in outcomes if o.document_id in tracked]
        pending = [o for o in mine if o.in_progress]
        if progress is not None:
            progress(
                ImportProgress(
                    done=len(mine) - len(pending),
                    total=len(mine),
                    failed=sum(o.failed for o in mine),
                    waiting=sum(o.status == Document.Status.QUEUED for o in pending),
                )
            )
        if not pending or (deadline is not None and clock() >= deadline):
            return list(outcomes)
        sleep(poll_s)
