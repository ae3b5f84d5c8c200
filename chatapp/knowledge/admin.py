"""Django admin for knowledge bases, documents and curated answers."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from typing_extensions import override

from chatapp.knowledge.models import CuratedAnswer, Document, ImportItem, ImportJob, KnowledgeBase


@admin.register(KnowledgeBase)
class KnowledgeBaseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # stubs' generic param
    list_display = ("name", "is_default", "created_at")
    search_fields = ("name",)


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("title", "knowledge_base", "status", "chunk_count", "updated_at")
    list_filter = ("status", "knowledge_base")
    search_fields = ("title", "filename")
    exclude = ("raw",)
    readonly_fields = ("content_hash", "status", "error", "chunk_count", "indexed_at")
    actions = ("retry",)

    @admin.action(description="Index again")
    def retry(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        from chatapp.knowledge.services import document_retry

        for document in queryset:
            document_retry(document=document)


@admin.register(CuratedAnswer)
class CuratedAnswerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("question", "knowledge_base", "is_active", "updated_at")
    list_filter = ("knowledge_base", "is_active")
    search_fields = ("question", "answer")
    exclude = ("embedding",)

    @override
    def save_model(self, request: HttpRequest, obj: CuratedAnswer, form: Any, change: bool) -> None:
        from chatapp.knowledge.embedding import query_embedder

        # The question's embedding is what visitors' questions are matched against.
        obj.embedding = query_embedder().embed([obj.question])[0].tolist()
        super().save_model(request, obj, form, change)


class ImportItemInline(admin.TabularInline):  # type: ignore[type-arg]  # stubs' generic param
    model = ImportItem
    fields = ("position", "name", "status", "error", "chunk_count", "attempts", "document")
    readonly_fields = fields
    ordering = ("position",)
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Import and re-index jobs, read only: they are made through the API and kb_import."""

    list_display = ("__str__", "knowledge_base", "kind", "status", "source", "created_at")
    list_filter = ("kind", "status", "knowledge_base")
    readonly_fields = (
        "knowledge_base",
        "kind",
        "status",
        "source",
        "created_by",
        "started_at",
        "finished_at",
        "analyzed_at",
    )
    inlines = (ImportItemInline,)

    @override
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
