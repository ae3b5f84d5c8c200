"""Saved-reply pages (the REST operations: ``chatapp.replies.api``)."""

from __future__ import annotations

from django.urls import path

from chatapp.replies import views

urlpatterns = [
    path("dashboard/replies/", views.saved_reply_manage, name="saved-replies"),
]
