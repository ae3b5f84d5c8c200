"""Feedback routes: the visitor's ratings (REST) and the admin page of down-voted answers."""

from __future__ import annotations

from django.urls import path

from chatapp.feedback import views

urlpatterns = [
    path(
        "api/v1/conversations/<str:conversation_id>/messages/<int:message_id>/feedback",
        views.answer_feedback_create,
        name="api-answer-feedback",
    ),
    path(
        "api/v1/conversations/<str:conversation_id>/csat",
        views.csat_create,
        name="api-csat",
    ),
    path("dashboard/feedback/", views.downvoted_answers, name="feedback-downvoted"),
]
