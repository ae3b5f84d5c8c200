"""Knowledge bases, their documents, and the chunks that retrieval searches."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, VectorField
from typing_extensions import override

from chatapp.core.models import TimeStampedModel

# all-MiniLM-L6-v2 writes 384-d vectors; another model needs a migration (checks.py says so).
EMBEDDING_DIM = 384
# Full-text config: the demo and the benchmark corpora are English.
FTS_CONFIG = "english"


class KnowledgeBase(TimeStampedModel):
    class Visibility(models.TextChoices):
        PUBLIC = "public"  # anonymous visitors may chat with it
        INTERNAL = "internal"  # staff only (accounts/permissions.py)

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    # Conversations created without an explicit set search the default knowledge bases.
    is_default = models.BooleanField(default=True)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.INTERNAL
    )

    @override
    def __str__(self) -> str:
        return self.name


class Document(TimeStampedModel):
    class Status(models.TextChoices):
        QUEUED = "queued"
        INDEXING = "indexing"
        READY = "ready"
        FAILED = "failed"

    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="documents"
    )
    title = models.CharField(max_length=500)
    source_url = models.URLField(max_length=1000, blank=True)
    filename = models.CharField(max_length=500, blank=True)
    # The raw upload is kept until indexed so a retry needs nothing from the client.
    raw = models.BinaryField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    indexed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["knowledge_base", "status"])]

    @override
    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    # Denormalised so a search filters by knowledge base without a join.
    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="+")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    heading_path = models.CharField(max_length=1000, blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    anchor = models.CharField(max_length=300, blank=True)
    token_count = models.PositiveIntegerField(default=0)
    embedding = VectorField(dimensions=EMBEDDING_DIM)
    search_vector = models.GeneratedField(
        expression=SearchVector("text", config=FTS_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="chunk_document_ordinal")
        ]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(name="chunk_search_vector_gin", fields=["search_vector"]),
        ]

    @override
    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


class CuratedAnswer(TimeStampedModel):
    """An admin-written answer that wins over a generated one when a question matches it closely."""

    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="curated_answers"
    )
    question = models.TextField()
    answer = models.TextField()
    # Embedding of the question; visitor questions are matched against it by cosine similarity.
    embedding = VectorField(dimensions=EMBEDDING_DIM)
    is_active = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["knowledge_base", "is_active"])]

    @override
    def __str__(self) -> str:
        return self.question[:80]


class ImportJob(TimeStampedModel):
    """Many documents added (or a whole knowledge base re-indexed) at once, indexed in batches.

    Its progress is the sum of its items' statuses; ``status`` says where the job as a whole is.
    """

    class Kind(models.TextChoices):
        IMPORT = "import"
        REINDEX = "reindex"

    class Status(models.TextChoices):
        RECEIVING = "receiving"  # its creator is still adding documents (kb_import reading files)
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"

    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="import_jobs"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.IMPORT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVING)
    # How the documents came: "jsonl", "zip", "multipart", "kb_import", "reindex".
    source = models.CharField(max_length=32, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Statistics refreshed (ANALYZE) after the load, so keyword search weighs the new words.
    analyzed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["knowledge_base", "-created_at"])]

    @override
    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"


class ImportItem(models.Model):
    """One document of an import job: a JSON line, a file, or a document to re-index."""

    class Status(models.TextChoices):
        REFUSED = "refused"  # never stored: a bad line, an empty or oversized file
        UNCHANGED = "unchanged"  # the same content is indexed already
        QUEUED = "queued"
        INDEXING = "indexing"
        READY = "ready"
        FAILED = "failed"
        SUPERSEDED = "superseded"  # a newer upload replaced it while the job indexed it

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="items")
    # 1-based order in the job; for JSON lines the item's name carries the line number.
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=1000)
    document = models.ForeignKey(
        Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True)
    size = models.PositiveIntegerField(default=0)  # raw bytes: batches are sized by them
    chunk_count = models.PositiveIntegerField(default=0)
    # Claims by an indexing task: a redelivered task takes its own items back, a restarted
    # worker releases what it held, and an item that keeps crashing its batch is given up on.
    attempts = models.PositiveSmallIntegerField(default=0)
    claim = models.CharField(max_length=255, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="import_item_job_position")
        ]
        indexes = [models.Index(fields=["job", "status"])]

    @override
    def __str__(self) -> str:
        return f"{self.job_id}:{self.position} {self.name}"
