"""Django admin for pipeline runs; the dashboard shows their traces more readably."""

from __future__ import annotations

from django.contrib import admin

from chatapp.assistant.models import PipelineRun, PipelineStep


class StepInline(admin.TabularInline):  # type: ignore[type-arg]  # stubs' generic param
    model = PipelineStep
    extra = 0
    fields = ("stage", "attempt", "status", "model", "duration_ms", "error")
    readonly_fields = fields


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "conversation", "status", "verdict", "reason", "started_at")
    list_filter = ("status", "verdict")
    inlines = (StepInline,)
