"""URLs of the admin dashboard."""

from __future__ import annotations

from django.urls import path

from chatapp.dashboard import trend_views, views
from chatapp.webhooks import views as webhook_views

app_name = "dashboard"
urlpatterns = [
    path("", views.index, name="index"),
    path("turns/<int:run_id>/", views.turn_detail, name="turn"),
    path("trends/", trend_views.trends, name="trends"),
    path("knowledge/", views.knowledge_index, name="knowledge"),
    path("knowledge/<int:kb_id>/", views.knowledge_detail, name="knowledge-base"),
    path("webhooks/", webhook_views.webhook_index, name="webhooks"),
    path("webhooks/<int:webhook_id>/delete", webhook_views.webhook_delete, name="webhook-delete"),
    path(
        "webhooks/deliveries/<int:delivery_id>/redeliver",
        webhook_views.webhook_redeliver,
        name="webhook-redeliver",
    ),
]
