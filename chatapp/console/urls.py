"""URLs of the agents' console."""

from __future__ import annotations

from django.urls import path

from chatapp.console import views

app_name = "console"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("conversations/<uuid:conversation_id>/", views.conversation_detail, name="conversation"),
]
