"""Batched indexing: parse and chunk many documents, embed their chunks together, swap them in.

``documents_prepare`` parses and chunks a batch of documents, then embeds all their chunks in
device-sized batches across documents (one model call per batch, longest chunks first so that a
batch pads little). ``documents_swap`` then replaces their chunks in the caller's transaction:
old chunks deleted, new ones written with one binary COPY, statuses set. A document that fails
(unparseable, or its chunks crash the model) ends ``failed`` with its reason and keeps its old
chunks; the others still end ``ready``. Searches see each document's old chunks or its new ones,
never half of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from pgvector import Vector

from chatapp.knowledge.ingest.chunking import ChunkDraft, chunk_document
from chatapp.knowledge.ingest.errors import DocumentError
from chatapp.knowledge.ingest.parsers import ParsedDocument, parse_document, parse_text
from chatapp.knowledge.models import Chunk, Document
from workers.inference.base import Embedder

logger = logging.getLogger(__name__)

ERR_INDEXING = "indexing crashed: {error}"
ERR_DELETED = "deleted: the document was deleted while it was indexed"
ERR_SUPERSEDED = "superseded: a newer upload replaced it while it was indexed"
TITLE_MAX_CHARS: Final = 500  # Document.title
HEADING_MAX_CHARS: Final = 1000  # Chunk.heading_path
ANCHOR_MAX_CHARS: Final = 300  # Chunk.anchor

Outcome = Literal["ready", "failed", "superseded", "deleted"]


def _fatal() -> tuple[type[BaseException], ...]:
    """Errors that end the whole batch instead of failing one document.

    The task's time limit, and the database going away (the task retries; batches are
    idempotent).
    """
    from celery.exceptions import SoftTimeLimitExceeded

    return (SoftTimeLimitExceeded, DatabaseError)


@dataclass
class PreparedDocument:
    """A document parsed, chunked and embedded, ready to swap in (or the reason it cannot be).

    Attributes:
        document_id: The document.
        content_hash: The hash of the content that was parsed; a different one at swap time
            means a newer upload replaced it meanwhile.
        title: The title found in the content (used when the document is titled by its file).
        drafts: Its chunks.
        vectors: One embedding per chunk, in chunk order, once embedded.
        error: ``"code: detail"`` when it failed.
    """

    document_id: int
    content_hash: str
    title: str = ""
    drafts: list[ChunkDraft] = field(default_factory=list)
    vectors: list[npt.NDArray[np.float32] | None] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class IndexResult:
    """What became of one document of a batch.

    Attributes:
        document_id: The document.
        status: ``ready``; ``failed`` (see ``error``; old chunks kept); ``superseded`` (its
            content changed while it was indexed; left to the newer upload's indexing);
            ``deleted`` (gone meanwhile).
        chunk_count: Chunks written, when ready.
        error: ``"code: detail"`` unless ready.
    """

    document_id: int
    status: Outcome
    chunk_count: int = 0
    error: str = ""


def parse_stored(doc: Document) -> ParsedDocument:
    """Parse a stored document: JSON text as Markdown, a file by its extension.

    Raises:
        DocumentError: The content cannot be turned into text.
    """
    raw = bytes(doc.raw or b"")
    if not doc.filename:
        return parse_text(raw.decode(), title=doc.title, fmt="markdown")
    # A title the uploader gave wins; otherwise the document's own (front matter, <title>, H1).
    given = doc.title if doc.title != doc.filename else None
    return parse_document(
        raw, filename=doc.filename, max_bytes=settings.CHATAPP_UPLOAD_MAX_BYTES, title=given
    )


def documents_prepare(
    *,
    document_ids: Sequence[int],
    embedder: Embedder,
    batch_size: int,
    count_tokens: Callable[[str], int] | None = None,
) -> list[PreparedDocument]:
    """Mark documents ``indexing``, then parse, chunk and embed them (no chunk is written yet).

    Args:
        document_ids: The documents, in the order to report them.
        embedder: The loaded embedding model.
        batch_size: Chunks per model call (``embed_batch_size()``: device-sized).
        count_tokens: Token counter for chunk budgets; the embedder's tokenizer when None.

    Returns:
        One entry per document that still exists, in ``document_ids`` order.
    """
    Document.objects.filter(pk__in=document_ids).update(
        status=Document.Status.INDEXING, updated_at=timezone.now()
    )
    docs = Document.objects.only("id", "title", "filename", "raw", "content_hash").in_bulk(
        list(document_ids)
    )
    prepared: list[PreparedDocument] = []
    count = count_tokens or embedder.count_tokens
    for doc_id in document_ids:
        doc = docs.get(doc_id)
        if doc is None:
            continue
        item = PreparedDocument(document_id=doc.pk, content_hash=doc.content_hash)
        prepared.append(item)
        try:
            parsed = parse_stored(doc)
            item.title = parsed.title
            item.drafts = chunk_document(
                parsed,
                max_tokens=settings.CHATAPP_CHUNK_MAX_TOKENS,
                overlap_tokens=settings.CHATAPP_CHUNK_OVERLAP_TOKENS,
                count_tokens=count,
            )
            if not item.drafts:
                raise DocumentError("no_text", "The document has no text to index.")
        except DocumentError as exc:
            item.error = f"{exc.code}: {exc}"
        except _fatal():
            raise
        # One broken document must not fail its batch; the traceback goes to the log.
        except Exception as exc:
            logger.exception("parsing document %s crashed", doc.pk)
            item.error = ERR_INDEXING.format(error=exc)
        item.vectors = [None] * len(item.drafts)
    _embed(prepared, embedder, batch_size)
    return prepared


def _embed(prepared: list[PreparedDocument], embedder: Embedder, batch_size: int) -> None:
    """Embed every chunk of the batch, ``batch_size`` chunks per model call, longest first.

    A call that fails is retried document by document, so a document whose chunks crash the
    model fails alone.
    """
    work = [(d, i) for d in prepared if not d.error for i in range(len(d.drafts))]
    work.sort(key=lambda w: -w[0].drafts[w[1]].token_count)  # stable: ties keep document order
    for start in range(0, len(work), max(1, batch_size)):
        part = [(d, i) for d, i in work[start : start + batch_size] if not d.error]
        if not part:
            continue
        try:
            vectors = embedder.embed([d.drafts[i].text for d, i in part], batch_size=len(part))
        except _fatal():
            raise
        except Exception as exc:
            logger.warning("an embedding batch failed (%s); retrying it document by document", exc)
            _embed_one_by_one(part, embedder)
            continue
        for (d, i), vector in zip(part, vectors, strict=True):
            d.vectors[i] = vector


def _embed_one_by_one(part: list[tuple[PreparedDocument, int]], embedder: Embedder) -> None:
    by_doc: dict[int, list[tuple[PreparedDocument, int]]] = {}
    for d, i in part:
        by_doc.setdefault(d.document_id, []).append((d, i))
    for members in by_doc.values():
        doc = members[0][0]
        try:
            vectors = embedder.embed(
                [d.drafts[i].text for d, i in members], batch_size=len(members)
            )
        except _fatal():
            raise
        except Exception as exc:
            logger.exception("embedding document %s crashed", doc.document_id)
            doc.error = ERR_INDEXING.format(error=exc)
            continue
        for (d, i), vector in zip(members, vectors, strict=True):
            d.vectors[i] = vector


def documents_swap(prepared: Sequence[PreparedDocument]) -> dict[int, IndexResult]:
    """Swap in the new chunks of prepared documents and set their statuses.

    Must run inside a transaction (``transaction.atomic``): the documents are locked, in id
    order, for its rest. Locks the caller needs as well (an import job's row) must be taken
    before this call, so that every writer takes them in the same order.

    Args:
        prepared: From ``documents_prepare``.

    Returns:
        The result of every prepared document, by document id.
    """
    ids = [p.document_id for p in prepared]
    current = {
        pk: (content_hash, title, filename)
        for pk, content_hash, title, filename in Document.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", "content_hash", "title", "filename")
    }
    results: dict[int, IndexResult] = {}
    ready: list[PreparedDocument] = []
    failed: list[PreparedDocument] = []
    for p in prepared:
        row = current.get(p.document_id)
        if row is None:
            results[p.document_id] = IndexResult(p.document_id, "deleted", error=ERR_DELETED)
        elif row[0] != p.content_hash:
            results[p.document_id] = IndexResult(p.document_id, "superseded", error=ERR_SUPERSEDED)
        elif p.error:
            results[p.document_id] = IndexResult(p.document_id, "failed", error=p.error)
            failed.append(p)
        else:
            results[p.document_id] = IndexResult(p.document_id, "ready", len(p.drafts))
            ready.append(p)
    now = timezone.now()
    if ready:
        Chunk.objects.filter(document_id__in=[p.document_id for p in ready]).delete()
        _copy_chunks(ready)
        updated = []
        for p in ready:
            _, title, filename = current[p.document_id]
            if p.title and title == filename:
                title = p.title[:TITLE_MAX_CHARS]
            updated.append(
                Document(
                    pk=p.document_id,
                    status=Document.Status.READY,
                    error="",
                    chunk_count=len(p.drafts),
                    indexed_at=now,
                    title=title,
                    updated_at=now,
                )
            )
        Document.objects.bulk_update(
            updated, ["status", "error", "chunk_count", "indexed_at", "title", "updated_at"]
        )
    if failed:
        Document.objects.bulk_update(
            [
                Document(
                    pk=p.document_id, status=Document.Status.FAILED, error=p.error, updated_at=now
                )
                for p in failed
            ],
            ["status", "error", "updated_at"],
        )
    return results


# Binary COPY: pgvector reads a vector as its binary form (dimensions, then big-endian floats),
# which costs ~2 us a chunk to write where the text form costs ~0.5 ms.
_COPY_COLUMNS: Final = (
    ("document_id", "int8"),
    ("knowledge_base_id", "int8"),
    ("ordinal", "int4"),
    ("text", "text"),
    ("heading_path", "varchar"),
    ("page", "int4"),
    ("anchor", "varchar"),
    ("token_count", "int4"),
    ("embedding", "bytea"),  # raw bytes handed to the vector type's binary input
)


def _copy_chunks(ready: Sequence[PreparedDocument]) -> None:
    kb_of = dict(
        Document.objects.filter(pk__in=[p.document_id for p in ready]).values_list(
            "pk", "knowledge_base_id"
        )
    )
    columns = ", ".join(name for name, _ in _COPY_COLUMNS)
    sql = f"COPY {Chunk._meta.db_table} ({columns}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.set_types([kind for _, kind in _COPY_COLUMNS])
        for p in ready:
            kb_id = kb_of[p.document_id]
            for draft, vector in zip(p.drafts, p.vectors, strict=True):
                if vector is None:  # documents_prepare embeds every chunk of a ready document
                    raise RuntimeError(f"chunk {draft.ordinal} of {p.document_id} has no vector")
                copy.write_row(
                    (
                        p.document_id,
                        kb_id,
                        draft.ordinal,
                        draft.text,
                        " > ".join(draft.heading_path)[:HEADING_MAX_CHARS],
                        draft.page,
                        (draft.anchor or "")[:ANCHOR_MAX_CHARS],
                        draft.token_count,
                        Vector(vector).to_binary(),
                    )
                )


def documents_index(
    *,
    document_ids: Sequence[int],
    embedder: Embedder,
    batch_size: int,
    count_tokens: Callable[[str], int] | None = None,
) -> dict[int, IndexResult]:
    """Index documents together: prepare them, then swap them in with one transaction.

    Args:
        document_ids: The documents.
        embedder: The loaded embedding model.
        batch_size: Chunks per model call.
        count_tokens: Token counter for chunk budgets; the embedder's tokenizer when None.

    Returns:
        The result of every document that still existed, by document id.
    """
    prepared = documents_prepare(
        document_ids=document_ids,
        embedder=embedder,
        batch_size=batch_size,
        count_tokens=count_tokens,
    )
    with transaction.atomic():
        return documents_swap(prepared)
