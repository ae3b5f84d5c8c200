"""Feedback pages (the visitor's ratings are REST operations: ``chatapp.feedback.api``)."""

from __future__ import annotations

from django.urls import path

from chatapp.feedback import views

urlpatterns = [
    path("dashboard/feedback/", views.downvoted_answers, name="feedback-downvoted"),
]
