"""URLs of the embeddable widget (the loader at the site root, where host pages point)."""

from __future__ import annotations

from django.urls import path

from chatapp.widget import views

app_name = "widget"
urlpatterns = [
    path("widget.js", views.loader, name="loader"),
    path("widget/config", views.config, name="config"),
    path("widget/frame/", views.frame, name="frame"),
    path("dashboard/widget/", views.settings_page, name="settings"),
    path("dashboard/widget/<int:origin_id>/delete/", views.origin_delete, name="origin-delete"),
]
