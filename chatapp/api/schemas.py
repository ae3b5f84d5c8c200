"""Request bodies of the REST API (validated; unknown fields are refused)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chatapp.core.validators import (
    URL_MAX_CHARS,
    DocumentText,
    MessageText,
    StorableText,
    WebUrl,
)

TITLE_MAX_CHARS = 500  # Document.title's column


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationCreate(Body):
    knowledge_base_ids: list[int] | None = Field(default=None, max_length=50)


class CopilotRequest(Body):
    """Ask for a suggested reply to the visitor's latest messages (no fields yet)."""


class KnowledgeBaseCreate(Body):
    name: StorableText = Field(min_length=1, max_length=200)
    description: StorableText = Field(default="", max_length=5000)
    is_default: bool = True
    visibility: Literal["public", "internal"] = "internal"


class DocumentCreate(Body):
    title: StorableText = Field(min_length=1, max_length=TITLE_MAX_CHARS)
    text: DocumentText = Field(min_length=1)
    source_url: WebUrl = Field(default="", max_length=URL_MAX_CHARS)


class DocumentUploadFields(Body):
    """The form fields beside a multipart ``file`` (others, e.g. a form's CSRF token, ignored)."""

    model_config = ConfigDict(extra="ignore")

    title: StorableText = Field(default="", max_length=TITLE_MAX_CHARS)
    source_url: WebUrl = Field(default="", max_length=URL_MAX_CHARS)


class SearchRequest(Body):
    query: str = Field(max_length=2000)
    k: int = Field(default=5, ge=1, le=50)


class MessageCreate(Body):
    text: MessageText = Field(min_length=1)


class AssignRequest(Body):
    agent_id: int | None = None  # None: claim for yourself


class NoteCreate(Body):
    text: StorableText = Field(min_length=1, max_length=10000)


class CuratedAnswerCreate(Body):
    question: StorableText = Field(min_length=1, max_length=2000)
    answer: StorableText = Field(min_length=1, max_length=10000)


class PresenceUpdate(Body):
    status: Literal["online", "away", "offline"]


class CapacityUpdate(Body):
    capacity: int | None = Field(ge=0, le=100)  # None: the default capacity
