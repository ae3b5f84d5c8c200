"""Django admin for conversations (read-mostly; agents work in the console)."""

from __future__ import annotations

from django.contrib import admin

from chatapp.conversations.models import Conversation, Message, Note


class MessageInline(admin.TabularInline):  # type: ignore[type-arg]  # stubs' generic param
    model = Message
    extra = 0
    fields = ("created_at", "role", "author", "text")
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "status", "assignee", "handoff_reason", "last_message_at")
    list_filter = ("status", "handoff_reason")
    inlines = (MessageInline,)
    exclude = ("token_hash",)


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("conversation", "author", "created_at")
