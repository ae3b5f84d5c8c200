"""Response bodies of the REST API: what each operation answers, and the one error shape.

Models refuse unknown fields, so a field an operation adds without describing it here fails the
API's own validation (and the tests) instead of reaching clients undocumented. The generated
OpenAPI document is built from these.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chatapp.realtime.events import (
    AgentPayload,
    CitationPayload,
    ConversationSummary,
    MessagePayload,
)

__all__ = [
    "AgentPayload",
    "ConversationSummary",
    "MessagePayload",
]

# Failures every operation can answer: a bad body or query, no or wrong credentials, a role
# that may not, something that is not there, the per-address limit.
COMMON_ERRORS = frozenset({400, 401, 403, 404, 429})


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldError(Out):
    field: str
    message: str


class ErrorDetail(BaseModel):
    """``code`` is stable for programs, ``detail`` is for people; some codes add fields."""

    model_config = ConfigDict(extra="allow")

    code: str
    detail: str
    fields: list[FieldError] | None = Field(
        default=None, description="invalid_request: the fields at fault"
    )
    retry_after: int | None = Field(
        default=None, description="rate_limited: seconds to wait (also the Retry-After header)"
    )


class ErrorOut(Out):
    error: ErrorDetail


def answers(ok: dict[int, Any], *errors: int) -> dict[Any, Any]:
    """An operation's ``response=``: its success bodies, and ``ErrorOut`` for every failure.

    Args:
        ok: Success status → body model (``None`` for an empty body).
        errors: Statuses beyond ``COMMON_ERRORS`` it can answer (409, 413, 415, ...).
    """
    failures: Iterable[int] = COMMON_ERRORS | set(errors)
    return {**ok, frozenset(failures): ErrorOut}


class HealthOut(Out):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="Each dependency: ok, or what is wrong")
    missing: list[str] | None = Field(default=None, description="Only when unavailable")


class Deleted(Out):
    id: int
    deleted: bool


# --- conversations ---------------------------------------------------------------------------


class ConversationCreated(Out):
    id: str
    token: str = Field(description="The visitor's conversation token: keep it to come back")
    websocket_url: str


class ConversationOut(Out):
    id: str
    status: Literal["bot", "waiting", "assigned", "closed"]
    assignee: AgentPayload | None
    messages: list[MessagePayload]


class NoteOut(Out):
    id: int
    text: str
    author: str | None
    created_at: datetime


class CopilotSuggestion(Out):
    text: str
    citations: list[CitationPayload]
    verdict: Literal["approved", "revised", "escalated", "failed"]
    reason: str


class CopilotLatest(Out):
    turn_id: int | None
    status: str | None
    suggestion: CopilotSuggestion | None = Field(description="None while it is drafted")


class CopilotStarted(Out):
    turn_id: int
    status: str


# --- knowledge -------------------------------------------------------------------------------


class KnowledgeBaseOut(Out):
    id: int
    name: str
    description: str
    is_default: bool
    visibility: Literal["public", "internal"]


class KnowledgeBaseList(Out):
    results: list[KnowledgeBaseOut]


class KnowledgeBaseCreated(Out):
    id: int
    name: str
    is_default: bool
    visibility: Literal["public", "internal"]


DocumentStatus = Literal["queued", "indexing", "ready", "failed"]


class DocumentAccepted(Out):
    id: int
    status: DocumentStatus


class DocumentOut(Out):
    id: int
    knowledge_base_id: int
    title: str
    status: DocumentStatus
    chunks: int
    error: str | None


class DocumentRow(Out):
    id: int
    title: str
    filename: str
    source_url: str
    status: DocumentStatus
    chunks: int
    error: str | None
    created_at: datetime
    updated_at: datetime


class DocumentList(Out):
    results: list[DocumentRow]


class SearchHit(Out):
    document_id: int
    chunk_id: int
    title: str
    text: str
    score: float = Field(description="The fused score the results are ordered by")
    relevance: float = Field(description="0-1, comparable across queries")
    similarity: float | None = Field(description="Cosine similarity, when the vector leg found it")
    keyword_score: float | None = Field(description="Full-text rank, when the keyword leg found it")
    found_by: list[Literal["vector", "keyword"]]
    heading_path: str
    anchor: str


class SearchResults(Out):
    results: list[SearchHit]


class CuratedAnswerOut(Out):
    id: int
    knowledge_base_id: int
    question: str
    answer: str
    is_active: bool


class CuratedAnswerList(Out):
    results: list[CuratedAnswerOut]


class ImportItemError(Out):
    position: int
    name: str
    status: Literal["refused", "failed"]
    error: str
    document_id: int | None


class ImportCounts(Out):
    """Items by status, plus ``total``, ``done`` and ``pending``."""

    total: int
    done: int
    pending: int
    refused: int
    unchanged: int
    queued: int
    indexing: int
    ready: int
    failed: int
    superseded: int


class ImportJobOut(Out):
    id: int
    knowledge_base_id: int
    kind: Literal["import", "reindex"]
    status: Literal["receiving", "queued", "running", "done"]
    source: str
    documents: ImportCounts
    chunks: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    analyzed_at: datetime | None
    errors: list[ImportItemError] | None = Field(default=None, description="GET of one job only")
    errors_truncated: bool | None = Field(default=None, description="More errors than listed")


class ImportJobList(Out):
    results: list[ImportJobOut]


# --- agents ----------------------------------------------------------------------------------


class PresenceOut(Out):
    agent: AgentPayload
    status: Literal["online", "away", "offline"] = Field(description="What the agent chose")
    effective_status: Literal["online", "away", "offline"] = Field(
        description="offline too when heartbeats stopped"
    )
    last_seen: datetime | None
    capacity: int
    load: int = Field(description="Conversations assigned to them now")
    heartbeat_s: int = Field(description="How often to send heartbeats to stay online")


class PresenceList(Out):
    results: list[PresenceOut]
