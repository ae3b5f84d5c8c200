"""Django admin: agents' presence and capacity, the assignment settings, the assignment log."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from typing_extensions import override

from chatapp.assignment.models import AgentPresence, AssignmentSettings, AutoAssignment


@admin.register(AgentPresence)
class AgentPresenceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # stubs' generic param
    list_display = ("user", "status", "last_seen", "capacity", "last_assigned_at")
    list_editable = ("capacity",)  # per-agent override of the default capacity
    readonly_fields = ("last_seen", "last_assigned_at")


@admin.register(AssignmentSettings)
class AssignmentSettingsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("auto_assign", "default_capacity")

    @override
    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row (pk 1): while it exists it wins over CHATAPP_AUTO_ASSIGN and the capacity env.
        return not AssignmentSettings.objects.exists()


@admin.register(AutoAssignment)
class AutoAssignmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("conversation", "agent", "waiting_since", "assigned_at")
    readonly_fields = ("conversation", "agent", "waiting_since", "assigned_at")
