"""Django admin for the widget's allowed origins (the dashboard page is the usual way)."""

from __future__ import annotations

from django.contrib import admin

from chatapp.widget.models import WidgetOrigin


@admin.register(WidgetOrigin)
class WidgetOriginAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # django-stubs generic over the model
    list_display = ("origin", "note", "created_at")
    search_fields = ("origin", "note")
