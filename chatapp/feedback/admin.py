"""Feedback in /admin/ (read it there; the dashboard page lists the down-votes)."""

from __future__ import annotations

from django.contrib import admin

from chatapp.feedback.models import AnswerFeedback, ConversationRating


@admin.register(AnswerFeedback)
class AnswerFeedbackAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # stubs' generic param
    list_display = ("message", "rating", "updated_at")
    list_filter = ("rating",)
    raw_id_fields = ("message", "conversation")


@admin.register(ConversationRating)
class ConversationRatingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # stubs' generic param
    list_display = ("conversation", "score", "updated_at")
    list_filter = ("score",)
    raw_id_fields = ("conversation",)
