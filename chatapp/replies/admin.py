"""Saved replies in /admin/."""

from __future__ import annotations

from django.contrib import admin

from chatapp.replies.models import SavedReply


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # stubs' generic param
    list_display = ("shortcut", "title", "updated_at")
    search_fields = ("shortcut", "title", "body")
