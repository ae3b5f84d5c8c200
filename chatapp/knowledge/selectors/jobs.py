"""Reads of import jobs: progress by item status, and the items that were refused or failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from django.db.models import Count, IntegerField, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from chatapp.core.errors import NotFound
from chatapp.knowledge.models import ImportItem, ImportJob

ERR_NO_JOB = "No such import job."
ERRORS_SHOWN: Final = 500  # a job's detail lists this many refused or failed items at most
RECENT_JOBS: Final = 10

_STATUSES: Final = tuple(ImportItem.Status)
_PROBLEMS: Final = (ImportItem.Status.REFUSED, ImportItem.Status.FAILED)


@dataclass(frozen=True)
class ImportItemError:
    """An item that was refused at intake or failed to index."""

    position: int
    name: str
    status: str
    error: str
    document_id: int | None

    def as_json(self) -> dict[str, Any]:
        """The item as the job endpoint sends it."""
        return {
            "position": self.position,
            "name": self.name,
            "status": self.status,
            "error": self.error,
            "document_id": self.document_id,
        }


@dataclass(frozen=True)
class ImportJobProgress:
    """A job with its items counted by status.

    Attributes:
        counts: Items by ``ImportItem.Status`` value (every status present, zeros included).
        chunks: Chunks its indexed documents got (and unchanged documents already had).
        errors: Refused and failed items in order, the first ``ERRORS_SHOWN`` (detail only).
    """

    id: int
    knowledge_base_id: int
    kind: str
    status: str
    source: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    analyzed_at: datetime | None
    counts: dict[str, int]
    chunks: int
    errors: list[ImportItemError] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Items in the job (every line or file, refused ones included)."""
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        """Items still queued or being indexed."""
        return self.counts[ImportItem.Status.QUEUED] + self.counts[ImportItem.Status.INDEXING]

    @property
    def done(self) -> int:
        """Items finished one way or another."""
        return self.total - self.pending

    @property
    def percent(self) -> int:
        """Finished items in percent (100 for an empty job)."""
        return 100 * self.done // self.total if self.total else 100

    def as_json(self, *, with_errors: bool = True) -> dict[str, Any]:
        """The job as the API sends it."""
        body: dict[str, Any] = {
            "id": self.id,
            "knowledge_base_id": self.knowledge_base_id,
            "kind": self.kind,
            "status": self.status,
            "source": self.source,
            "documents": {
                "total": self.total,
                "done": self.done,
                "pending": self.pending,
                **{str(status): n for status, n in self.counts.items()},
            },
            "chunks": self.chunks,
            "created_at": self.created_at.isoformat(),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "analyzed_at": _iso(self.analyzed_at),
        }
        if with_errors:
            problems = (
                self.counts[ImportItem.Status.REFUSED] + self.counts[ImportItem.Status.FAILED]
            )
            body["errors"] = [e.as_json() for e in self.errors]
            body["errors_truncated"] = problems > len(self.errors)
        return body


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _with_counts(qs: QuerySet[ImportJob]) -> QuerySet[ImportJob]:
    per_status = {
        f"n_{status.value}": Count("items", filter=Q(items__status=status)) for status in _STATUSES
    }
    return qs.annotate(
        n_chunks=Coalesce(
            Sum(
                "items__chunk_count",
                filter=Q(items__status__in=(ImportItem.Status.READY, ImportItem.Status.UNCHANGED)),
            ),
            0,
            output_field=IntegerField(),
        ),
        **per_status,
    )


def _progress(job: ImportJob, errors: list[ImportItemError] | None = None) -> ImportJobProgress:
    # Annotations are not on the model type; getattr keeps mypy honest without an ignore.
    return ImportJobProgress(
        id=job.pk,
        knowledge_base_id=job.knowledge_base_id,
        kind=job.kind,
        status=job.status,
        source=job.source,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        analyzed_at=job.analyzed_at,
        counts={status.value: int(getattr(job, f"n_{status.value}")) for status in _STATUSES},
        chunks=int(getattr(job, "n_chunks")),  # noqa: B009  (an annotation)
        errors=errors or [],
    )


def import_job_progress(job_id: int) -> ImportJobProgress:
    """A job with its counts and its refused or failed items (two queries).

    Args:
        job_id: The job's id.

    Returns:
        Its progress.

    Raises:
        NotFound: No such job.
    """
    job = _with_counts(ImportJob.objects.filter(pk=job_id)).first()
    if job is None:
        raise NotFound(ERR_NO_JOB)
    errors = [
        ImportItemError(*row)
        for row in ImportItem.objects.filter(job_id=job_id, status__in=_PROBLEMS)
        .order_by("position")
        .values_list("position", "name", "status", "error", "document_id")[:ERRORS_SHOWN]
    ]
    return _progress(job, errors)


def import_job_list(*, knowledge_base_id: int, limit: int = RECENT_JOBS) -> list[ImportJobProgress]:
    """A knowledge base's latest jobs with their counts, newest first (one query, no errors).

    Args:
        knowledge_base_id: Whose jobs.
        limit: How many.

    Returns:
        The jobs' progress.
    """
    qs = ImportJob.objects.filter(knowledge_base_id=knowledge_base_id).order_by(
        "-created_at", "-pk"
    )
    return [_progress(job) for job in _with_counts(qs)[:limit]]
