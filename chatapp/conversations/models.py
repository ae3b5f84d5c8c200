"""Conversations between a visitor, the bot and agents; their messages, participants and notes."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from typing_extensions import override

from chatapp.core.models import TimeStampedModel
from chatapp.knowledge.models import KnowledgeBase


class Conversation(TimeStampedModel):
    class Status(models.TextChoices):
        BOT = "bot", "With the bot"
        WAITING = "waiting", "Waiting for an agent"
        ASSIGNED = "assigned", "With an agent"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BOT)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    # sha256 of the visitor token; the token itself is only ever in the visitor's hands.
    token_hash = models.CharField(max_length=64)
    knowledge_bases = models.ManyToManyField(KnowledgeBase, blank=True, related_name="+")
    handoff_reason = models.CharField(max_length=64, blank=True)
    handoff_detail = models.TextField(blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["status", "-last_message_at"])]

    @override
    def __str__(self) -> str:
        return str(self.id)


class Message(models.Model):
    class Role(models.TextChoices):
        VISITOR = "visitor"
        BOT = "bot"
        AGENT = "agent"
        SYSTEM = "system"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_msg_id = models.UUIDField(null=True, blank=True)
    citations = models.JSONField(default=list, blank=True)
    review = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # A resent frame (same client_msg_id) must not be stored twice.
            models.UniqueConstraint(
                fields=["conversation", "client_msg_id"],
                condition=models.Q(client_msg_id__isnull=False),
                name="message_client_msg_id_once",
            )
        ]

    @override
    def __str__(self) -> str:
        return f"{self.role}: {self.text[:40]}"


class Participant(models.Model):
    class Role(models.TextChoices):
        VISITOR = "visitor"
        AGENT = "agent"
        BOT = "bot"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user", "role"], name="participant_once"
            )
        ]

    @override
    def __str__(self) -> str:
        return f"{self.role} in {self.conversation_id}"


class Note(models.Model):
    """An agent's internal note on a conversation; never shown to the visitor."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    @override
    def __str__(self) -> str:
        return self.text[:40]
