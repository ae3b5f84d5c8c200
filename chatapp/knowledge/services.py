"""Writes for knowledge bases: create, accept documents, index them (in a worker), delete."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chatapp.core.errors import ApplicationError
from chatapp.knowledge.embedding import embed_batch_size
from chatapp.knowledge.indexing import documents_index
from chatapp.knowledge.ingest.parsers import SUPPORTED_EXTENSIONS
from chatapp.knowledge.models import Document, KnowledgeBase
from workers.inference.base import Embedder

logger = logging.getLogger(__name__)

ERR_DUPLICATE_KB = "A knowledge base with this name exists."


@transaction.atomic
def knowledge_base_create(
    *,
    name: str,
    description: str = "",
    is_default: bool = True,
    visibility: str = KnowledgeBase.Visibility.INTERNAL,
) -> KnowledgeBase:
    """Create a knowledge base.

    Args:
        name: Unique name.
        description: Free text for the admin pages.
        is_default: Whether conversations created without a choice search it.
        visibility: ``public`` (anonymous visitors may chat with it) or ``internal`` (staff only).

    Raises:
        ApplicationError: ``duplicate`` (409) for a taken name; ``invalid`` for a blank one.
    """
    name = name.strip()
    if not name:
        raise ApplicationError("invalid", "name must not be empty.")
    if KnowledgeBase.objects.filter(name=name).exists():
        raise ApplicationError("duplicate", ERR_DUPLICATE_KB, status=409)
    kb = KnowledgeBase(
        name=name, description=description, is_default=is_default, visibility=visibility
    )
    kb.full_clean()
    kb.save()
    return kb


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@transaction.atomic
def document_create(
    *,
    knowledge_base: KnowledgeBase,
    title: str = "",
    text: str | None = None,
    data: bytes | None = None,
    filename: str = "",
    source_url: str = "",
    queue: bool = True,
) -> tuple[Document, bool]:
    """Accept a document (JSON text or an uploaded file) and queue it for indexing.

    The cheap checks (size, type) happen here so the client hears about them at once; parsing
    and embedding run in a retrieval worker. With ``queue=False`` no task is sent: the caller
    indexes the document in-process with ``document_index`` (``kb_import --sync``).

    Returns:
        The document and whether it needs indexing (False: an identical one is there).

    Raises:
        ApplicationError: ``invalid_document`` for empty or unsupported input, ``too_large``
            (413) for a file over ``CHATAPP_UPLOAD_MAX_BYTES``.
    """
    if data is None and not (text or "").strip():
        raise ApplicationError("invalid_document", "The document has no text.")
    if data is not None:
        if not data:
            raise ApplicationError("invalid_document", "The uploaded file is empty.")
        if len(data) > settings.CHATAPP_UPLOAD_MAX_BYTES:
            raise ApplicationError(
                "too_large",
                f"The file is larger than {settings.CHATAPP_UPLOAD_MAX_BYTES} bytes.",
                status=413,
            )
        if not filename.lower().endswith(SUPPORTED_EXTENSIONS):
            raise ApplicationError(
                "invalid_document",
                f"Unsupported file type; use one of {', '.join(SUPPORTED_EXTENSIONS)}.",
                status=415,
            )
        raw = data
    else:
        raw = (text or "").encode()
        filename = ""  # JSON text: parsed as Markdown, no file type to check
    content_hash = hashlib.sha256(raw).hexdigest()
    title = title.strip() or filename or "Untitled"
    # A file is the same document when its name is; JSON text documents are known by their title
    # (indexing may retitle a file from its content, so the title cannot key files).
    same = (
        Document.objects.filter(knowledge_base=knowledge_base, filename=filename).first()
        if filename
        else Document.objects.filter(
            knowledge_base=knowledge_base, title=title, filename=""
        ).first()
    )
    if (
        same is not None
        and same.content_hash == content_hash
        and same.status != Document.Status.FAILED
    ):
        return same, False
    doc = same or Document(knowledge_base=knowledge_base, title=title, filename=filename)
    doc.source_url = source_url
    doc.raw = raw
    doc.content_hash = content_hash
    doc.status = Document.Status.QUEUED
    doc.error = ""
    doc.full_clean(exclude=["raw"])
    doc.save()
    if queue:
        _index_later(doc)
    return doc, True


def _index_later(doc: Document) -> None:
    from chatapp.core.tasks import INDEX_DOCUMENT, task_signature

    doc_id = doc.pk
    transaction.on_commit(lambda: task_signature(INDEX_DOCUMENT, doc_id).apply_async())


@transaction.atomic
def document_retry(*, document: Document) -> Document:
    """Queue a failed document again."""
    document.status = Document.Status.QUEUED
    document.error = ""
    document.save(update_fields=["status", "error", "updated_at"])
    _index_later(document)
    return document


def document_index(
    *,
    document_id: int,
    embedder: Embedder,
    count_tokens: Callable[[str], int] | None = None,
) -> Document:
    """Parse, chunk and embed a document, then swap its chunks in one transaction.

    Searches see either the old chunks or the new ones, never a half-indexed document.
    Failures leave status ``failed`` with a readable error and the old chunks untouched. This
    is a batch of one on the path import jobs take (``indexing.documents_index``).

    Args:
        document_id: Document to index.
        embedder: Loaded embedding model (the worker's).
        count_tokens: Token counter for chunk budgets; defaults to the embedder's tokenizer.

    Raises:
        Document.DoesNotExist: No such document.
    """
    Document.objects.only("pk").get(pk=document_id)
    documents_index(
        document_ids=[document_id],
        embedder=embedder,
        batch_size=embed_batch_size(),
        count_tokens=count_tokens,
    )
    return Document.objects.get(pk=document_id)


@transaction.atomic
def document_delete(*, document: Document) -> None:
    """Delete a document; its chunks go with it (cascade)."""
    document.delete()


ERR_INDEXING_LOST = "indexing_lost: the worker indexing it was lost; retry to index it again"


def document_fail(*, document_id: int, error: str) -> bool:
    """Mark a document that was being indexed (or waited for it) failed, with the reason.

    Called when its indexing task failed for good outside the indexing code (a lost worker, a
    hard time limit), so it does not stay ``indexing`` forever. A ready or failed document is
    left as it is.

    Returns:
        Whether the document was marked failed.
    """
    return bool(
        Document.objects.filter(
            pk=document_id, status__in=[Document.Status.QUEUED, Document.Status.INDEXING]
        ).update(status=Document.Status.FAILED, error=error[:2000], updated_at=timezone.now())
    )


@dataclass
class DocumentSweep:
    """What one sweep did to documents (and to import jobs, ``jobs.import_jobs_sweep``)."""

    failed: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    items_released: list[int] = field(default_factory=list)
    jobs_resent: list[int] = field(default_factory=list)


def document_sweep(*, now: datetime | None = None) -> DocumentSweep:
    """Fail documents stuck indexing past the hard limit; queue again those whose message is lost.

    A document ``indexing`` longer than the indexing hard limit lost its worker (the limit would
    have ended the task otherwise). One ``queued`` for ``CHATAPP_INDEX_STALL_S`` while the indexing
    queue is empty lost its message (a Redis restart, a dispatch lost after commit): it is queued
    again, which resets its clock. Documents an import job is indexing are left to the job's
    own sweep (``import_jobs_sweep``, run first): its batches take them, not one task each.

    Args:
        now: The time to judge by (tests); the current time by default.

    Returns:
        The documents failed and the documents queued again.
    """
    from chatapp.core.tasks import queue_lengths
    from chatapp.knowledge.jobs import import_jobs_sweep
    from chatapp.knowledge.models import ImportItem

    now = now or timezone.now()
    jobs = import_jobs_sweep(now=now)
    sweep = DocumentSweep(items_released=jobs.released, jobs_resent=jobs.resent)
    grace = timedelta(seconds=settings.CHATAPP_INDEX_HARD_LIMIT_S + 60)
    for doc_id in Document.objects.filter(
        status=Document.Status.INDEXING, updated_at__lt=now - grace
    ).values_list("pk", flat=True):
        if document_fail(document_id=doc_id, error=ERR_INDEXING_LOST):
            logger.warning("document %s was lost while indexing: marked failed", doc_id)
            sweep.failed.append(doc_id)
    in_jobs = ImportItem.objects.filter(
        status__in=(ImportItem.Status.QUEUED, ImportItem.Status.INDEXING),
        document__isnull=False,
    ).values("document_id")
    stalled = list(
        Document.objects.filter(
            status=Document.Status.QUEUED,
            updated_at__lt=now - timedelta(seconds=settings.CHATAPP_INDEX_STALL_S),
        )
        .exclude(pk__in=in_jobs)
        .order_by("id")
    )
    if not stalled:
        return sweep
    try:
        waiting = queue_lengths(["indexing"])["indexing"]
    except Exception:  # broker unreachable: nothing can be queued now; the next sweep looks again
        logger.exception("document sweep could not read the indexing queue")
        return sweep
    if waiting:
        return sweep  # a backlog: the stalled ones may be in it
    for doc in stalled:
        with transaction.atomic():
            Document.objects.filter(pk=doc.pk).update(updated_at=timezone.now())
            _index_later(doc)
        logger.warning("document %s was queued but its message was lost: queued again", doc.pk)
        sweep.requeued.append(doc.pk)
    return sweep
