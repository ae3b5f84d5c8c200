"""URL of the metrics endpoint."""

from __future__ import annotations

from django.urls import path

from chatapp.observability import views

urlpatterns = [path("metrics", views.metrics, name="metrics")]
