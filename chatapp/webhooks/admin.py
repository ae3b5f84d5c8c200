"""Django admin for webhooks (read mostly; the dashboard page is the admins' tool)."""

from __future__ import annotations

from django.contrib import admin

from chatapp.webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # stubs' generic param
    list_display = ("url", "events", "is_active", "created_at")
    exclude = ("secret",)  # write-only: set through the API or the dashboard


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # stubs' generic param
    list_display = ("pk", "event", "endpoint", "status", "attempts", "response_code", "created_at")
    list_filter = ("status", "event")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
