"""Saved replies: canned answers the team shares, inserted in the console by their shortcut."""

from __future__ import annotations

import re
from typing import Final

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from typing_extensions import override

from chatapp.core.models import TimeStampedModel

SHORTCUT_MAX_CHARS = 32
SHORTCUT_RE = r"^[a-z0-9][a-z0-9_-]*$"
BODY_MAX_CHARS = 4000  # an agent reply's default limit (CHATAPP_MESSAGE_MAX_CHARS)
# {name} placeholders filled in when an agent expands a reply (selectors.saved_reply_context).
VARIABLES: Final = ("visitor_name", "agent_name", "brand_name", "conversation_id")
PLACEHOLDER_RE: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SavedReply(TimeStampedModel):
    # Typed after "/" in the reply box: lower case, no spaces, so it reads as one word.
    shortcut = models.CharField(
        max_length=SHORTCUT_MAX_CHARS,
        unique=True,
        validators=[
            RegexValidator(
                SHORTCUT_RE, "Use lower-case letters, digits, '-' and '_' (e.g. refund)."
            )
        ],
    )
    title = models.CharField(max_length=200)
    body = models.TextField(max_length=BODY_MAX_CHARS)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["shortcut"]

    @override
    def __str__(self) -> str:
        return f"/{self.shortcut}"
