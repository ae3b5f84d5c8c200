"""Import jobs: many documents stored at once, then indexed in batches by a chain of tasks.

An import (a bulk request, ``kb_import``) or a re-index of a whole knowledge base is an
``ImportJob`` with one ``ImportItem`` per document. Items refused at intake (a bad JSON line, an
empty or oversized file) are recorded with their reason and never stop the others.

Indexing runs as chains of batch tasks on ``CHATAPP_INDEX_QUEUE``: each task claims the job's
next batch of queued items (sized for the worker's device), indexes them together
(``indexing``), records the outcome of each in the same transaction as the chunks, and queues
the next task if items are left. One message is in the queue per chain, so a visitor's turn
waits behind one batch at most, not behind the whole import.

Batches are idempotent. A redelivered task takes back the items it held; a restarted worker
releases what it held and queues its unfinished jobs again (``import_jobs_resume``); an item
whose batch crashed is retried alone, and given up after ``MAX_ATTEMPTS``. When the last item
is done the job is ``done`` and ANALYZE refreshes the planner's and the keyword search's
statistics.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.db.models.functions import Length
from django.utils import timezone

from chatapp.accounts.models import User
from chatapp.core.errors import Conflict
from chatapp.core.tasks import IMPORT_BATCH_HARD_LIMIT_S
from chatapp.knowledge.indexing import IndexResult, documents_prepare, documents_swap
from chatapp.knowledge.ingest.errors import DocumentError
from chatapp.knowledge.ingest.parsers import SUPPORTED_EXTENSIONS
from chatapp.knowledge.models import (
    Chunk,
    CuratedAnswer,
    Document,
    ImportItem,
    ImportJob,
    KnowledgeBase,
)
from workers.inference.base import Embedder

logger = logging.getLogger(__name__)

# An item whose batch crashed (the worker died or ran out of time) is retried on its own; one
# that crashes every time is a poison document and is given up on.
MAX_ATTEMPTS: Final = 3

INSERT_BATCH: Final = 100  # rows per INSERT: documents carry their raw bytes
ERR_GAVE_UP = "indexing crashed: gave up after {attempts} attempts"
ERR_DUPLICATE = "duplicate: same {what} as {other}"
ERR_NO_DOCUMENT = "deleted: the document was deleted before it was indexed"
ERR_REINDEX_RUNNING = "A re-index of this knowledge base is already running (job {job_id})."

_PENDING: Final = (ImportItem.Status.QUEUED, ImportItem.Status.INDEXING)
_ITEM_STATUS: Final = {
    "ready": ImportItem.Status.READY,
    "failed": ImportItem.Status.FAILED,
    "superseded": ImportItem.Status.SUPERSEDED,
    "deleted": ImportItem.Status.FAILED,
}


@dataclass(frozen=True)
class ImportSource:
    """One document offered to an import.

    Attributes:
        name: How the job reports it: ``line 3``, a file's stored name.
        title: The title; empty for a file titled from its content.
        text: JSON text (parsed as Markdown), or None for a file.
        data: A file's bytes, or None for JSON text.
        filename: A file's stored name (the key a re-import matches on).
        source_url: Where the document lives, if anywhere.
        error: ``"code: detail"`` when it was refused before it got here (a bad JSON line).
    """

    name: str
    title: str = ""
    text: str | None = None
    data: bytes | None = None
    filename: str = ""
    source_url: str = ""
    error: str = ""


@dataclass(frozen=True)
class AddedItem:
    """What ``import_job_add`` did with one source.

    Attributes:
        item: Its job item.
        document: Its document, unless refused.
        stored: Whether its content was stored (new or changed), not found unchanged.
    """

    item: ImportItem
    document: Document | None
    stored: bool


@dataclass(frozen=True)
class BatchReport:
    """What one batch task did.

    Attributes:
        items: The items it finished, with their outcome.
        job_done: Whether it finished the job.
        remaining: Items of the job still queued after it.
    """

    items: list[ImportItem]
    job_done: bool
    remaining: int

    @property
    def claimed(self) -> int:
        """Items the batch took (0: nothing was left to take)."""
        return len(self.items)


# --- intake ---------------------------------------------------------------------------------


def import_job_create(
    *,
    knowledge_base: KnowledgeBase,
    source: str,
    created_by: User | None = None,
) -> ImportJob:
    """Open an import job; add documents with ``import_job_add``, then ``import_job_close`` it.

    Args:
        knowledge_base: Where the documents go.
        source: How they come: ``jsonl``, ``zip``, ``multipart``, ``kb_import``.
        created_by: The staff member who asked, if any.

    Returns:
        The job, ``receiving``.
    """
    return ImportJob.objects.create(
        knowledge_base=knowledge_base,
        kind=ImportJob.Kind.IMPORT,
        source=source,
        status=ImportJob.Status.RECEIVING,
        created_by=created_by,
    )


@transaction.atomic
def import_job_add(*, job: ImportJob, sources: Sequence[ImportSource]) -> list[AddedItem]:
    """Store documents in a job (one transaction): one item each, refused or stored or unchanged.

    A document is the same one as a stored document with the same file name (files) or the
    same title (JSON text), as with single uploads: unchanged content is not indexed again
    (unless it never was), changed content replaces the stored one. Two sources of one request
    with the same name or title: the second is refused.

    Args:
        job: A ``receiving`` job.
        sources: The documents, in the order to number them.

    Returns:
        One entry per source, in order.
    """
    kb = job.knowledge_base
    max_bytes = settings.CHATAPP_UPLOAD_MAX_BYTES
    start = ImportItem.objects.filter(job=job).aggregate(n=Max("position"))["n"] or 0
    accepted: list[tuple[int, ImportSource, bytes, str]] = []  # (index, source, raw, title)
    errors: dict[int, str] = {}
    for index, src in enumerate(sources):
        if src.error:
            errors[index] = src.error
            continue
        try:
            raw, title = _accept(src, max_bytes=max_bytes)
        except DocumentError as exc:
            errors[index] = f"{exc.code}: {exc}"
            continue
        accepted.append((index, src, raw, title))
    existing = _existing_documents(kb, [(src.filename, title) for _, src, _, title in accepted])
    seen: dict[tuple[str, str], str] = {}
    results: dict[int, AddedItem] = {}
    to_create: list[Document] = []
    to_update: list[Document] = []
    now = timezone.now()
    for index, src, raw, title in accepted:
        key = ("file", src.filename) if src.filename else ("title", title)
        if key in seen:
            what = "file name" if src.filename else "title"
            errors[index] = ERR_DUPLICATE.format(what=what, other=seen[key])
            continue
        seen[key] = src.name
        content_hash = hashlib.sha256(raw).hexdigest()
        same = existing.get(key)
        if (
            same is not None
            and same.content_hash == content_hash
            and same.status != Document.Status.FAILED
        ):
            # Never indexed (an interrupted import, a worker that never came): index it now.
            status = (
                ImportItem.Status.QUEUED
                if same.status == Document.Status.QUEUED
                else ImportItem.Status.UNCHANGED
            )
            item = _item(job, start + index + 1, src, status, len(raw))
            item.chunk_count = same.chunk_count if status == ImportItem.Status.UNCHANGED else 0
            results[index] = AddedItem(item, same, stored=False)
            continue
        doc = same or Document(knowledge_base=kb, title=title, filename=src.filename)
        doc.source_url = src.source_url
        doc.raw = raw
        doc.content_hash = content_hash
        doc.status = Document.Status.QUEUED
        doc.error = ""
        doc.updated_at = now
        try:
            doc.full_clean(exclude=["raw"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            errors[index] = f"invalid: {'; '.join(exc.messages)}"
            continue
        (to_update if same is not None else to_create).append(doc)
        item = _item(job, start + index + 1, src, ImportItem.Status.QUEUED, len(raw))
        results[index] = AddedItem(item, doc, stored=True)
    Document.objects.bulk_create(to_create, batch_size=INSERT_BATCH)
    Document.objects.bulk_update(
        to_update,
        ["source_url", "raw", "content_hash", "status", "error", "updated_at"],
        batch_size=INSERT_BATCH,
    )
    for index, error in errors.items():
        src = sources[index]
        item = _item(job, start + index + 1, src, ImportItem.Status.REFUSED, 0)
        item.error = error
        results[index] = AddedItem(item, None, stored=False)
    ordered = [results[i] for i in range(len(sources))]
    for added in ordered:  # documents created above have their ids now
        added.item.document = added.document
    ImportItem.objects.bulk_create([a.item for a in ordered], batch_size=INSERT_BATCH * 10)
    return ordered


def _accept(src: ImportSource, *, max_bytes: int) -> tuple[bytes, str]:
    """The cheap checks of a single upload: something there, not too large, a known type."""
    if src.data is None:
        text = src.text or ""
        if not text.strip():
            raise DocumentError("empty", "The document has no text.")
        raw = text.encode()
    else:
        raw = src.data
        if not raw:
            raise DocumentError("empty", f"{src.name} is empty.")
        if not src.filename.lower().endswith(SUPPORTED_EXTENSIONS):
            raise DocumentError(
                "unsupported_type",
                f"Unsupported file type; use one of {', '.join(SUPPORTED_EXTENSIONS)}.",
            )
    if len(raw) > max_bytes:
        raise DocumentError(
            "too_large", f"{src.name} is {len(raw):,} bytes; the limit is {max_bytes:,} bytes."
        )
    return raw, src.title.strip() or src.filename or "Untitled"


def _existing_documents(
    kb: KnowledgeBase, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Document]:
    """The stored documents these (filename, title) keys match, oldest first (two queries)."""
    filenames = {f for f, _ in keys if f}
    titles = {t for f, t in keys if not f}
    found: dict[tuple[str, str], Document] = {}
    if filenames:
        # Newest first, so that the oldest, the one a single upload would find, wins.
        for doc in (
            Document.objects.filter(knowledge_base=kb, filename__in=filenames)
            .defer("raw")
            .order_by("-pk")
        ):
            found[("file", doc.filename)] = doc
    if titles:
        for doc in (
            Document.objects.filter(knowledge_base=kb, filename="", title__in=titles)
            .defer("raw")
            .order_by("-pk")
        ):
            found[("title", doc.title)] = doc
    return found


def _item(job: ImportJob, position: int, src: ImportSource, status: str, size: int) -> ImportItem:
    # The document is set once it has an id (after its INSERT).
    return ImportItem(job=job, position=position, name=src.name[:1000], status=status, size=size)


@transaction.atomic
def import_job_close(*, job: ImportJob, queue: bool = True) -> ImportJob:
    """No more documents: queue the job's batch tasks, or end it at once if nothing is queued.

    Args:
        job: A ``receiving`` job.
        queue: Send the batch tasks (on commit); False leaves the items queued for an
            in-process run (``import_job_run``).

    Returns:
        The job, ``queued`` or ``done``.
    """
    queued = list(
        ImportItem.objects.filter(job=job, status=ImportItem.Status.QUEUED)
        .order_by("position")
        .values_list("document_id", flat=True)
    )
    job.status = ImportJob.Status.QUEUED if queued else ImportJob.Status.DONE
    job.finished_at = None if queued else timezone.now()
    job.save(update_fields=["status", "finished_at", "updated_at"])
    if queued and queue:
        _index_job_later(job.pk, [d for d in queued if d is not None])
    return job


@transaction.atomic
def import_job_submit(
    *,
    knowledge_base: KnowledgeBase,
    sources: Sequence[ImportSource],
    source: str,
    created_by: User | None = None,
) -> ImportJob:
    """Create, fill and close an import job in one transaction (a bulk request).

    Args:
        knowledge_base: Where the documents go.
        sources: The documents.
        source: How they came (``jsonl``, ``zip``, ``multipart``).
        created_by: The staff member who sent them.

    Returns:
        The job, ``queued`` (its batch tasks are sent on commit) or ``done``.
    """
    job = import_job_create(knowledge_base=knowledge_base, source=source, created_by=created_by)
    import_job_add(job=job, sources=sources)
    return import_job_close(job=job)


@transaction.atomic
def knowledge_base_reindex(
    *, knowledge_base: KnowledgeBase, created_by: User | None = None, queue: bool = True
) -> ImportJob:
    """Index every document of a knowledge base again, as a job (after changing the model).

    Searches keep finding the old chunks of each document until its new ones are swapped in.
    The curated answers' embeddings are computed again when the job ends.

    Args:
        knowledge_base: The knowledge base.
        created_by: The admin who asked.
        queue: Send the batch tasks (on commit); False for an in-process run.

    Returns:
        The job.

    Raises:
        Conflict: ``job_running`` (409) while another re-index of it runs.
    """
    KnowledgeBase.objects.select_for_update().get(pk=knowledge_base.pk)  # one re-index at a time
    running = (
        ImportJob.objects.filter(knowledge_base=knowledge_base, kind=ImportJob.Kind.REINDEX)
        .exclude(status=ImportJob.Status.DONE)
        .first()
    )
    if running is not None:
        raise Conflict("job_running", ERR_REINDEX_RUNNING.format(job_id=running.pk))
    job = ImportJob.objects.create(
        knowledge_base=knowledge_base,
        kind=ImportJob.Kind.REINDEX,
        source="reindex",
        status=ImportJob.Status.RECEIVING,
        created_by=created_by,
    )
    docs = list(
        Document.objects.filter(knowledge_base=knowledge_base)
        .order_by("pk")
        .annotate(size=Length("raw"))
        .values_list("pk", "title", "filename", "size")
    )
    ImportItem.objects.bulk_create(
        [
            ImportItem(
                job=job,
                position=position,
                name=filename or title,
                document_id=pk,
                status=ImportItem.Status.QUEUED,
                size=size or 0,
            )
            for position, (pk, title, filename, size) in enumerate(docs, start=1)
        ],
        batch_size=INSERT_BATCH * 10,
    )
    Document.objects.filter(pk__in=[d[0] for d in docs]).update(
        status=Document.Status.QUEUED, error="", updated_at=timezone.now()
    )
    return import_job_close(job=job, queue=queue)


# --- dispatch (tests replace these: no broker) ----------------------------------------------


# Sent with robust=True: a broker that is down must not turn a stored import into an error; the
# job stays queued and the next worker that starts queues it again (import_jobs_resume).


def _index_job_later(job_id: int, document_ids: Sequence[int]) -> None:
    """Send a job's first batch tasks once the transaction commits.

    Args:
        job_id: The job.
        document_ids: Its queued documents; one chain per ``CHATAPP_INDEX_PARALLEL``, at most
            one per document.
    """
    chains = max(1, min(settings.CHATAPP_INDEX_PARALLEL, len(document_ids)))
    transaction.on_commit(lambda: _send_batch(job_id, chains), robust=True)


def _continue_later(job_id: int) -> None:
    """Send the next batch task of a chain once the transaction commits."""
    transaction.on_commit(lambda: _send_batch(job_id, 1), robust=True)


def _analyze_later(job_id: int) -> None:
    """Refresh the statistics (ANALYZE) in a task once the job's last batch commits."""
    from chatapp.core.tasks import ANALYZE_CHUNKS, task_signature

    queue = settings.CHATAPP_INDEX_QUEUE
    transaction.on_commit(
        lambda: task_signature(ANALYZE_CHUNKS, job_id).apply_async(queue=queue), robust=True
    )


def _send_batch(job_id: int, count: int) -> None:
    from chatapp.core.tasks import INDEX_IMPORT_BATCH, task_signature

    for _ in range(count):
        task_signature(INDEX_IMPORT_BATCH, job_id).apply_async(queue=settings.CHATAPP_INDEX_QUEUE)


# --- batches --------------------------------------------------------------------------------


def import_job_run_batch(
    *,
    job_id: int,
    embedder: Embedder,
    claim: str,
    worker: str = "",
    limits: tuple[int, int] | None = None,
    batch_size: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
    dispatch: bool = True,
) -> BatchReport:
    """Index the job's next batch of queued items (the body of a batch task).

    Safe to run again with the same ``claim`` (a redelivered task): it takes back the items it
    held and indexes them again; documents already swapped in are swapped in once more.

    Args:
        job_id: The job.
        embedder: The loaded embedding model.
        claim: The task's id; items are held under it while they are indexed.
        worker: The task's worker (``celery@host``), so that its restart can release them.
        limits: ``(documents, raw bytes)`` per batch; ``index_batch_limits()`` when None.
        batch_size: Chunks per model call; ``embed_batch_size()`` when None.
        count_tokens: Token counter for chunk budgets; the embedder's tokenizer when None.
        dispatch: Send the follow-up tasks (the chain's next batch, ANALYZE) on commit;
            False when the caller runs them itself (``import_job_run``).

    Returns:
        What the batch did; ``claimed == 0`` when nothing was left to take.
    """
    from chatapp.knowledge.embedding import embed_batch_size, index_batch_limits

    max_docs, max_bytes = limits or index_batch_limits()
    items = _claim(job_id, claim=claim, worker=worker, max_docs=max_docs, max_bytes=max_bytes)
    if not items:
        return BatchReport(items=[], job_done=_finish_if_done(job_id, dispatch), remaining=0)
    try:
        prepared = documents_prepare(
            document_ids=[i.document_id for i in items if i.document_id is not None],
            embedder=embedder,
            batch_size=batch_size or embed_batch_size(),
            count_tokens=count_tokens,
        )
        with transaction.atomic():
            ImportJob.objects.select_for_update().filter(pk=job_id).first()  # lock order: job, docs
            results = documents_swap(prepared)
            finished = _record(items, results, claim=claim)
            remaining = ImportItem.objects.filter(job_id=job_id, status=ImportItem.Status.QUEUED)
            left = remaining.count()
            done = _finish_if_done(job_id, dispatch)
            if left and dispatch:
                _continue_later(job_id)
    except BaseException:
        # The time limit, the database, a bug: give the items back (they count an attempt) and
        # keep the chain going; a task retried for a database error takes them back itself.
        _release(job_id, claim=claim, dispatch=dispatch)
        raise
    if done and _job_kind(job_id) == ImportJob.Kind.REINDEX:
        curated_answers_reembed(knowledge_base_id=_job_kb(job_id), embedder=embedder)
    return BatchReport(items=finished, job_done=done, remaining=left)


def _claim(
    job_id: int, *, claim: str, worker: str, max_docs: int, max_bytes: int
) -> list[ImportItem]:
    """Take the job's next batch: up to ``max_docs`` items and ``max_bytes`` raw bytes.

    An item that was in a crashed batch before is taken alone, so that a poison document fails
    by itself; after ``MAX_ATTEMPTS`` it is failed without another try.
    """
    now = timezone.now()
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in (ImportJob.Status.DONE, ImportJob.Status.RECEIVING):
            return []
        # A redelivered task (same id): its items go back to the queue, to be taken below.
        ImportItem.objects.filter(
            job_id=job_id, status=ImportItem.Status.INDEXING, claim=claim
        ).update(status=ImportItem.Status.QUEUED, claim="", worker="")
        _give_up(job_id)
        candidates = list(
            ImportItem.objects.filter(job_id=job_id, status=ImportItem.Status.QUEUED).order_by(
                "position"
            )[:max_docs]
        )
        chosen: list[ImportItem] = []
        size = 0
        for item in candidates:
            if chosen and (item.attempts > 0 or size + item.size > max_bytes):
                break
            chosen.append(item)
            size += item.size
            if item.attempts > 0:
                break
        if not chosen:
            return []
        orphans = [i.pk for i in chosen if i.document_id is None]
        if orphans:
            ImportItem.objects.filter(pk__in=orphans).update(
                status=ImportItem.Status.FAILED, error=ERR_NO_DOCUMENT
            )
        chosen = [i for i in chosen if i.document_id is not None]
        ImportItem.objects.filter(pk__in=[i.pk for i in chosen]).update(
            status=ImportItem.Status.INDEXING,
            claim=claim,
            worker=worker,
            claimed_at=now,
            attempts=F("attempts") + 1,
        )
        if job.status == ImportJob.Status.QUEUED:
            job.status = ImportJob.Status.RUNNING
            job.started_at = job.started_at or now
            job.save(update_fields=["status", "started_at", "updated_at"])
    if not chosen and orphans:
        return _claim(job_id, claim=claim, worker=worker, max_docs=max_docs, max_bytes=max_bytes)
    return chosen


def _give_up(job_id: int) -> None:
    """Fail the queued items that crashed ``MAX_ATTEMPTS`` batches, and their documents."""
    poisoned = list(
        ImportItem.objects.filter(
            job_id=job_id, status=ImportItem.Status.QUEUED, attempts__gte=MAX_ATTEMPTS
        ).values_list("pk", "document_id")
    )
    if not poisoned:
        return
    error = ERR_GAVE_UP.format(attempts=MAX_ATTEMPTS)
    ImportItem.objects.filter(pk__in=[pk for pk, _ in poisoned]).update(
        status=ImportItem.Status.FAILED, error=error, claim="", worker=""
    )
    Document.objects.filter(pk__in=[d for _, d in poisoned if d is not None]).update(
        status=Document.Status.FAILED, error=error, updated_at=timezone.now()
    )


def _record(
    items: Sequence[ImportItem], results: dict[int, IndexResult], *, claim: str
) -> list[ImportItem]:
    """Write each item's outcome (in the swap's transaction), if this claim still holds it."""
    held = set(
        ImportItem.objects.filter(
            pk__in=[i.pk for i in items], claim=claim, status=ImportItem.Status.INDEXING
        ).values_list("pk", flat=True)
    )
    finished = []
    for item in items:
        if item.pk not in held:
            continue  # released meanwhile (a restart); whoever holds it now records it
        result = results.get(item.document_id or 0)
        if result is None:
            item.status, item.error, item.chunk_count = ImportItem.Status.FAILED, ERR_NO_DOCUMENT, 0
        else:
            item.status = _ITEM_STATUS[result.status]
            item.error = result.error
            item.chunk_count = result.chunk_count
        item.claim = item.worker = ""
        finished.append(item)
    ImportItem.objects.bulk_update(finished, ["status", "error", "chunk_count", "claim", "worker"])
    return finished


def _finish_if_done(job_id: int, dispatch: bool) -> bool:
    """End the job when no item is pending; True if this call ended it."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in (ImportJob.Status.DONE, ImportJob.Status.RECEIVING):
            return False
        if ImportItem.objects.filter(job_id=job_id, status__in=_PENDING).exists():
            return False
        job.status = ImportJob.Status.DONE
        job.finished_at = timezone.now()
        job.started_at = job.started_at or job.finished_at
        job.save(update_fields=["status", "finished_at", "started_at", "updated_at"])
        if dispatch:
            _analyze_later(job_id)
        return True


def _release(job_id: int, *, claim: str, dispatch: bool) -> int:
    count = 0
    try:
        with transaction.atomic():
            released = ImportItem.objects.filter(
                job_id=job_id, status=ImportItem.Status.INDEXING, claim=claim
            )
            document_ids = list(released.values_list("document_id", flat=True))
            count = released.update(status=ImportItem.Status.QUEUED, claim="", worker="")
            Document.objects.filter(
                pk__in=[d for d in document_ids if d is not None], status=Document.Status.INDEXING
            ).update(status=Document.Status.QUEUED)
            if count and dispatch:
                _continue_later(job_id)
    except Exception:  # the database is what failed: the redelivered task takes them back
        logger.warning("could not release the items of job %s held by %s", job_id, claim)
    return count


def _job_kind(job_id: int) -> str:
    return str(ImportJob.objects.values_list("kind", flat=True).get(pk=job_id))


def _job_kb(job_id: int) -> int:
    return int(ImportJob.objects.values_list("knowledge_base_id", flat=True).get(pk=job_id))


def import_job_run(
    *,
    job_id: int,
    embedder: Embedder,
    progress: Callable[[BatchReport], None] | None = None,
    limits: tuple[int, int] | None = None,
) -> None:
    """Index every queued item of a job in this process, batch after batch (no workers).

    Args:
        job_id: The job (closed with ``queue=False``).
        embedder: The loaded embedding model.
        progress: Called after each batch.
        limits: ``(documents, raw bytes)`` per batch; ``index_batch_limits()`` when None.
    """
    claim = f"in-process:{timezone.now().isoformat()}"
    while True:
        report = import_job_run_batch(
            job_id=job_id, embedder=embedder, claim=claim, limits=limits, dispatch=False
        )
        if progress is not None and report.claimed:
            progress(report)
        if report.job_done:
            import_job_analyze(job_id=job_id)
        if not report.claimed:
            return


def import_job_analyze(*, job_id: int) -> None:
    """Refresh the chunk statistics after a bulk load (ANALYZE) and note it on the job.

    The planner's row estimates and the keyword search's word frequencies (``pg_stats``) come
    from these statistics; autovacuum would refresh them too, but only minutes later.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Chunk._meta.db_table}")
    ImportJob.objects.filter(pk=job_id).update(analyzed_at=timezone.now())


def curated_answers_reembed(*, knowledge_base_id: int, embedder: Embedder) -> int:
    """Embed a knowledge base's curated questions again (after a re-index with a new model).

    Returns:
        How many were embedded.
    """
    answers = list(CuratedAnswer.objects.filter(knowledge_base_id=knowledge_base_id))
    if not answers:
        return 0
    vectors = embedder.embed([a.question for a in answers])
    for answer, vector in zip(answers, vectors, strict=True):
        answer.embedding = vector.tolist()
    CuratedAnswer.objects.bulk_update(answers, ["embedding"])
    return len(answers)


# --- resumption -----------------------------------------------------------------------------


def import_batch_abandon(*, job_id: int, claim: str) -> int:
    """Give back what a batch task held when it failed for good, and keep its chain going.

    For failures seen outside the task's own code: its pool process lost twice, its hard time
    limit. The items count the attempt, so one that keeps killing its worker is given up on.

    Args:
        job_id: The task's job.
        claim: The task's id.

    Returns:
        How many items were given back.
    """
    return _release(job_id, claim=claim, dispatch=True)


@dataclass
class ImportSweep:
    """What one sweep did to import jobs.

    Attributes:
        released: Items held past the batch hard limit (their task is gone), queued again.
        resent: Jobs whose chain of batch tasks was lost, sent a batch task again.
    """

    released: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)


def import_jobs_sweep(*, now: datetime | None = None) -> ImportSweep:
    """Release batches whose task is gone; resend the chain of jobs that lost theirs.

    An item ``indexing`` past the batch hard limit lost its task (the limit would have ended
    it). A job with queued items, none being indexed, no batch taken for
    ``CHATAPP_INDEX_STALL_S`` and nothing waiting in ``CHATAPP_INDEX_QUEUE`` lost its chain's
    message (a Redis restart, a dispatch lost after commit): a live chain always has its next
    message waiting or a batch held.

    Args:
        now: The time to judge by (tests); the current time by default.

    Returns:
        The items released and the jobs resent.
    """
    from chatapp.core.tasks import queue_lengths

    now = now or timezone.now()
    sweep = ImportSweep()
    lost = now - timedelta(seconds=IMPORT_BATCH_HARD_LIMIT_S + 60)
    for job_id, claim in (
        ImportItem.objects.filter(status=ImportItem.Status.INDEXING, claimed_at__lt=lost)
        .values_list("job_id", "claim")
        .distinct()
    ):
        items = list(
            ImportItem.objects.filter(
                job_id=job_id, claim=claim, status=ImportItem.Status.INDEXING
            ).values_list("pk", flat=True)
        )
        if _release(job_id, claim=claim, dispatch=True):
            sweep.released += items
    quiet = now - timedelta(seconds=settings.CHATAPP_INDEX_STALL_S)
    stalled = list(
        ImportJob.objects.filter(
            status__in=(ImportJob.Status.QUEUED, ImportJob.Status.RUNNING), updated_at__lt=quiet
        )
        .annotate(last_claim=Max("items__claimed_at"))
        .filter(Q(last_claim__isnull=True) | Q(last_claim__lt=quiet))
        .filter(items__status=ImportItem.Status.QUEUED)
        .exclude(items__status=ImportItem.Status.INDEXING)
        .exclude(pk__in=_jobs_of(sweep.released))
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not stalled:
        return sweep
    queue = settings.CHATAPP_INDEX_QUEUE
    try:
        waiting = queue_lengths([queue])[queue]
    except Exception:  # broker unreachable: nothing can be sent now; the next sweep looks again
        logger.exception("import job sweep could not read the %s queue", queue)
        return sweep
    if waiting:
        return sweep  # a backlog: their messages may be in it
    for job_id in stalled:
        with transaction.atomic():
            ImportJob.objects.filter(pk=job_id).update(updated_at=timezone.now())
            _continue_later(job_id)
        logger.warning("import job %s lost its batch task: sent again", job_id)
        sweep.resent.append(job_id)
    return sweep


def _jobs_of(item_ids: Sequence[int]) -> list[int]:
    return list(ImportItem.objects.filter(pk__in=item_ids).values_list("job_id", flat=True))


def import_jobs_resume(*, worker: str) -> list[int]:
    """After a worker (re)starts: release the batches it held and queue every unfinished job.

    A worker that starts runs no task yet, so items still held under its name were in a batch
    it was killed in. Every job with queued items gets one more batch task; chains that are
    still running elsewhere simply find less to take.

    Args:
        worker: The worker's name (``celery@host``).

    Returns:
        The jobs queued again.
    """
    with transaction.atomic():
        held = ImportItem.objects.filter(status=ImportItem.Status.INDEXING, worker=worker)
        document_ids = [d for d in held.values_list("document_id", flat=True) if d is not None]
        released = held.update(status=ImportItem.Status.QUEUED, claim="", worker="")
        Document.objects.filter(pk__in=document_ids, status=Document.Status.INDEXING).update(
            status=Document.Status.QUEUED
        )
        jobs = list(
            ImportJob.objects.filter(
                status__in=(ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
                items__status=ImportItem.Status.QUEUED,
            )
            .distinct()
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for job_id in jobs:
            _continue_later(job_id)
    if released or jobs:
        logger.info("%s: released %s items, queued jobs %s again", worker, released, jobs)
    return jobs
