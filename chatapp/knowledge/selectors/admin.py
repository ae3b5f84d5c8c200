"""Reads for the knowledge-base admin pages: bases with counts, documents, curated answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from chatapp.core.errors import NotFound
from chatapp.knowledge.ingest.parsers import SUPPORTED_EXTENSIONS
from chatapp.knowledge.models import CuratedAnswer, Document, KnowledgeBase

# The upload form's `accept` list; the API refuses anything else with 415.
UPLOAD_EXTENSIONS: Final = SUPPORTED_EXTENSIONS
# Statuses the page keeps polling until they settle.
PENDING_STATUSES: Final = (Document.Status.QUEUED, Document.Status.INDEXING)
ERR_NO_KB = "No such knowledge base."

_STATUSES: Final = tuple(Document.Status)


@dataclass(frozen=True)
class KnowledgeBaseRow:
    """A knowledge base with its documents counted by status.

    Attributes:
        chunks: Chunks of its documents (the sum of ``Document.chunk_count``).
        curated_answers: Curated answers, active or not.
    """

    id: int
    name: str
    description: str
    is_default: bool
    visibility: str
    documents: int
    queued: int
    indexing: int
    ready: int
    failed: int
    chunks: int
    curated_answers: int
    updated_at: datetime

    @property
    def pending(self) -> int:
        """Documents still waiting for, or in, indexing."""
        return self.queued + self.indexing


@dataclass(frozen=True)
class DocumentRow:
    """One document as the admin table shows it (never the raw upload)."""

    id: int
    title: str
    filename: str
    source_url: str
    status: str
    chunks: int
    error: str
    created_at: datetime
    updated_at: datetime

    @property
    def pending(self) -> bool:
        """Whether the page should poll this document's status."""
        return self.status in PENDING_STATUSES

    def as_json(self) -> dict[str, Any]:
        """The row as the document list endpoint sends it."""
        return {
            "id": self.id,
            "title": self.title,
            "filename": self.filename,
            "source_url": self.source_url,
            "status": self.status,
            "chunks": self.chunks,
            "error": self.error or None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class CuratedRow:
    """One curated answer (without its embedding)."""

    id: int
    question: str
    answer: str
    is_active: bool
    updated_at: datetime


@dataclass(frozen=True)
class KnowledgeBasePage:
    """Everything the knowledge-base page renders."""

    knowledge_base: KnowledgeBaseRow
    documents: list[DocumentRow]
    curated_answers: list[CuratedRow]


def _with_counts(qs: QuerySet[KnowledgeBase]) -> QuerySet[KnowledgeBase]:
    """Annotate document counts per status and the chunk total (one join, one GROUP BY).

    Curated answers are counted in a subquery: a second join would multiply the document rows.
    """
    per_status = {
        status.value: Count("documents", filter=Q(documents__status=status)) for status in _STATUSES
    }
    curated = (
        CuratedAnswer.objects.filter(knowledge_base=OuterRef("pk"))
        .order_by()
        .values("knowledge_base")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return qs.annotate(
        n_documents=Count("documents"),
        n_chunks=Coalesce(Sum("documents__chunk_count"), 0),
        n_curated=Coalesce(Subquery(curated, output_field=IntegerField()), 0),
        **{f"n_{key}": expr for key, expr in per_status.items()},
    )


def _row(kb: KnowledgeBase) -> KnowledgeBaseRow:
    # Annotations are not on the model type; getattr keeps mypy honest without an ignore.
    def count(name: str) -> int:
        return int(getattr(kb, f"n_{name}"))

    return KnowledgeBaseRow(
        id=kb.pk,
        name=kb.name,
        description=kb.description,
        is_default=kb.is_default,
        visibility=kb.visibility,
        documents=count("documents"),
        queued=count(Document.Status.QUEUED.value),
        indexing=count(Document.Status.INDEXING.value),
        ready=count(Document.Status.READY.value),
        failed=count(Document.Status.FAILED.value),
        chunks=count("chunks"),
        curated_answers=count("curated"),
        updated_at=kb.updated_at,
    )


def knowledge_base_overview_list() -> list[KnowledgeBaseRow]:
    """Every knowledge base with its document counts by status (one query).

    Returns:
        Rows ordered by name.
    """
    return [_row(kb) for kb in _with_counts(KnowledgeBase.objects.order_by("name"))]


def knowledge_base_overview_get(kb_id: int) -> KnowledgeBaseRow:
    """One knowledge base with its counts (one query).

    Args:
        kb_id: The knowledge base's id.

    Returns:
        The row.

    Raises:
        NotFound: No such knowledge base.
    """
    kb = _with_counts(KnowledgeBase.objects.filter(pk=kb_id)).first()
    if kb is None:
        raise NotFound(ERR_NO_KB)
    return _row(kb)


def document_row_list(*, knowledge_base_id: int) -> list[DocumentRow]:
    """A knowledge base's documents, newest change first (one query; the raw upload is not read).

    Args:
        knowledge_base_id: Whose documents.

    Returns:
        Rows; empty for an unknown knowledge base (callers check it exists).
    """
    rows = (
        Document.objects.filter(knowledge_base_id=knowledge_base_id)
        .order_by("-updated_at", "-id")
        .values_list(
            "id",
            "title",
            "filename",
            "source_url",
            "status",
            "chunk_count",
            "error",
            "created_at",
            "updated_at",
        )
    )
    return [DocumentRow(*row) for row in rows]


def curated_answer_row_list(*, knowledge_base_id: int) -> list[CuratedRow]:
    """A knowledge base's curated answers by question (one query; embeddings are not read).

    Args:
        knowledge_base_id: Whose curated answers.

    Returns:
        Rows ordered by question.
    """
    rows = (
        CuratedAnswer.objects.filter(knowledge_base_id=knowledge_base_id)
        .order_by("question", "id")
        .values_list("id", "question", "answer", "is_active", "updated_at")
    )
    return [CuratedRow(*row) for row in rows]


def knowledge_base_page(kb_id: int) -> KnowledgeBasePage:
    """The knowledge-base page: counts, documents and curated answers (three queries).

    Args:
        kb_id: The knowledge base's id.

    Returns:
        The page's data.

    Raises:
        NotFound: No such knowledge base.
    """
    kb = knowledge_base_overview_get(kb_id)
    return KnowledgeBasePage(
        knowledge_base=kb,
        documents=document_row_list(knowledge_base_id=kb.id),
        curated_answers=curated_answer_row_list(knowledge_base_id=kb.id),
    )
