"""Knowledge bases, their documents, and the chunks that retrieval searches."""

from __future__ import annotations

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
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    # Conversations created without an explicit set search the default knowledge bases.
    is_default = models.BooleanField(default=True)

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
