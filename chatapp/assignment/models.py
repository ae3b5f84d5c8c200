"""Agent presence and capacity, the auto-assignment settings, and a log of auto-assignments."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from typing_extensions import override

from chatapp.conversations.models import Conversation


class AgentPresence(models.Model):
    """One row per staff member who opened the console: what they chose and when last seen.

    The effective presence is ``status`` while heartbeats arrive, and offline once none came for
    ``CHATAPP_PRESENCE_TIMEOUT_S`` (``chatapp.assignment.selectors.presence_effective``).
    """

    class Status(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"
        OFFLINE = "offline", "Offline"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="presence",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ONLINE)
    last_seen = models.DateTimeField()
    # None: the default of AssignmentSettings (or CHATAPP_ASSIGN_DEFAULT_CAPACITY).
    capacity = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Conversations at once; empty for the default."
    )
    # Round robin: the agent whose last auto-assignment is oldest gets the next one.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "agent presence"

    @override
    def __str__(self) -> str:
        return f"{self.user_id}: {self.status}"


class AssignmentSettings(models.Model):
    """The one row (pk 1) admins edit; without it the environment's defaults apply."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    auto_assign = models.BooleanField(default=True)
    default_capacity = models.PositiveSmallIntegerField(default=5)

    class Meta:
        verbose_name_plural = "assignment settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="assignment_settings_one_row")
        ]

    @override
    def __str__(self) -> str:
        return (
            f"auto-assign {'on' if self.auto_assign else 'off'}, capacity {self.default_capacity}"
        )


class AutoAssignment(models.Model):
    """A conversation the assignment pass gave to an agent (manual claims are not logged here)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # When the conversation started waiting (its last update before the pass took it).
    waiting_since = models.DateTimeField()
    assigned_at = models.DateTimeField(auto_now_add=True, db_index=True)

    @override
    def __str__(self) -> str:
        return f"{self.conversation_id} -> {self.agent_id}"
