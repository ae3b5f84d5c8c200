"""The trace of a turn: a PipelineRun per turn the bot takes, a step per stage."""

from __future__ import annotations

from django.db import models
from typing_extensions import override

from chatapp.conversations.models import Conversation, Message
from workers.messages import TurnReason


class PipelineRun(models.Model):
    class Kind(models.TextChoices):
        VISITOR = "visitor"  # the bot answers the visitor
        COPILOT = "copilot"  # a suggested reply for the agent holding it; never seen by the visitor

    class Status(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"  # a reviewed answer reached the visitor
        ESCALATED = "escalated"  # the reviewer handed off to a person
        FAILED = "failed"  # a stage failed or timed out; handed off
        SUPERSEDED = "superseded"  # an agent took over before the answer was ready

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.VISITOR)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="pipeline_runs"
    )
    question = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    answer = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    verdict = models.CharField(max_length=16, blank=True)
    # Why the turn ended so: a TurnReason (workers.messages), the vocabulary the stages share.
    reason = models.CharField(
        max_length=64, blank=True, choices=[(r.value, r.name.lower()) for r in TurnReason]
    )
    detail = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A copilot turn's result for the console: {"text", "citations", "verdict", "reason"}.
    suggestion = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            # Copilot turns are left out of both: an agent may ask again about the same question,
            # and a suggestion never holds up (or waits for) the visitor's turns.
            models.UniqueConstraint(
                fields=["question"],
                condition=models.Q(kind="visitor"),
                name="pipeline_run_once_per_question",
            ),
            # One turn at a time per conversation: messages sent meanwhile wait for the next one.
            # The services check this under the conversation's row lock; this is the backstop.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(status="running", kind="visitor"),
                name="pipeline_run_one_running_per_conversation",
            ),
            # One suggestion drafted at a time per conversation (asking again returns it).
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(status="running", kind="copilot"),
                name="pipeline_run_one_copilot_per_conversation",
            ),
        ]

    @override
    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"


class PipelineStep(models.Model):
    class Stage(models.TextChoices):
        RETRIEVAL = "retrieval"
        ANSWERING = "answering"
        REVIEW = "review"

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="steps")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    attempt = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    model = models.CharField(max_length=300, blank=True)
    # The typed stage messages (workers/messages.py) as JSON: what came in and what went out.
    input = models.JSONField(default=dict)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "stage", "attempt"], name="pipeline_step_once")
        ]

    @override
    def __str__(self) -> str:
        return f"{self.stage}#{self.attempt} ({self.status})"
