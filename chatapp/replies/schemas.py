"""Request bodies of the saved-reply routes (validated; unknown fields are refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chatapp.core.validators import storable_text
from chatapp.replies.models import BODY_MAX_CHARS, SHORTCUT_MAX_CHARS

Shortcut = Annotated[
    str,
    Field(min_length=1, max_length=SHORTCUT_MAX_CHARS + 1),  # + 1: a leading "/" is dropped
    AfterValidator(lambda v: v.strip().removeprefix("/")),
]
Title = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(storable_text)]
Text = Annotated[str, Field(min_length=1, max_length=BODY_MAX_CHARS), AfterValidator(storable_text)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SavedReplyCreate(Body):
    shortcut: Shortcut
    title: Title
    body: Text


class SavedReplyUpdate(Body):
    shortcut: Shortcut | None = None
    title: Title | None = None
    body: Text | None = None


class SavedReplyOut(Body):
    id: int
    shortcut: str
    title: str
    body: str
    text: str | None = Field(
        default=None, description="The body filled in (only with ?conversation_id=)"
    )
    updated_at: datetime


class SavedReplyList(Body):
    results: list[SavedReplyOut]
    variables: dict[str, str] | None = Field(
        default=None, description="The values filled in (only with ?conversation_id=)"
    )
