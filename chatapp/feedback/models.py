"""Visitor feedback: a thumbs rating per bot answer, a CSAT score per closed conversation."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from typing_extensions import override

from chatapp.conversations.models import Conversation, Message
from chatapp.core.models import TimeStampedModel

COMMENT_MAX_CHARS = 2000
CSAT_MIN, CSAT_MAX = 1, 5


class AnswerFeedback(TimeStampedModel):
    """The visitor's thumbs up or down on one bot answer; rating again replaces it."""

    class Rating(models.TextChoices):
        UP = "up"
        DOWN = "down"

    # One row per answer: a second rating updates it (the visitor changed their mind).
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    rating = models.CharField(max_length=8, choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=COMMENT_MAX_CHARS)

    class Meta:
        # The admin list reads the latest down-votes.
        indexes = [models.Index(fields=["rating", "-updated_at"], name="feedback_rating_recent")]

    @override
    def __str__(self) -> str:
        return f"{self.rating} on message {self.message_id}"


class ConversationRating(TimeStampedModel):
    """The visitor's CSAT score (1-5) for a closed conversation; rating again replaces it."""

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="csat")
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(CSAT_MIN), MaxValueValidator(CSAT_MAX)]
    )
    comment = models.TextField(blank=True, max_length=COMMENT_MAX_CHARS)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__gte=CSAT_MIN, score__lte=CSAT_MAX),
                name="csat_score_1_to_5",
            )
        ]

    @override
    def __str__(self) -> str:
        return f"CSAT {self.score} for {self.conversation_id}"
