"""Saved-reply routes: the REST API and the admin management page."""

from __future__ import annotations

from django.urls import path

from chatapp.replies import views

urlpatterns = [
    path("api/v1/saved-replies", views.saved_reply_collection, name="api-saved-replies"),
    path("api/v1/saved-replies/<int:reply_id>", views.saved_reply_detail),
    path("dashboard/replies/", views.saved_reply_manage, name="saved-replies"),
]
