"""Every event the server sends over websockets, as typed payloads (contract: docs/api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CitationPayload(Payload):
    document_id: int
    chunk_id: int
    title: str
    quote: str
    source_url: str = ""


class ReviewPayload(Payload):
    verdict: Literal["approved", "revised", "escalated"]
    confidence: float


class MessagePayload(Payload):
    id: int
    conversation_id: str
    role: Literal["visitor", "bot", "agent", "system"]
    text: str
    created_at: datetime
    client_msg_id: str | None = None
    author: str | None = None
    turn_id: int | None = None
    citations: list[CitationPayload] = Field(default_factory=list)
    review: ReviewPayload | None = None


class AgentPayload(Payload):
    id: int
    username: str


class ConversationSummary(Payload):
    id: str
    status: Literal["bot", "waiting", "assigned", "closed"]
    assignee: AgentPayload | None
    handoff_reason: str
    last_message: str
    last_message_at: datetime | None
    created_at: datetime


class Event(Payload):
    type: str


class MessageCreatedEvent(Event):
    type: Literal["message.created"] = "message.created"
    message: MessagePayload


class AnswerDeltaEvent(Event):
    """A reviewed piece of the answer: only sentences the reviewer approved reach visitors."""

    type: Literal["answer.delta"] = "answer.delta"
    turn_id: int
    text: str
    attempt: int = 0  # a revision restarts the stream with attempt + 1
    # One id per execution of the answering stage: a stage run again after its worker died
    # restarts the stream with the same attempt and a new id.
    stream: str = ""


class AnswerDraftEvent(Event):
    """Staff only: the answerer's raw draft as it is written, before review."""

    type: Literal["answer.draft"] = "answer.draft"
    turn_id: int
    text: str
    attempt: int = 0
    stream: str = ""  # as in ``AnswerDeltaEvent``


class TurnCompletedEvent(Event):
    """Ends a turn's stream; a client drops its streamed draft unless the outcome is "answered"."""

    type: Literal["turn.completed"] = "turn.completed"
    turn_id: int
    outcome: Literal["answered", "escalated", "failed", "superseded"]


class CopilotDeltaEvent(Event):
    """Staff only: a reviewed sentence of a copilot suggestion as it is drafted."""

    type: Literal["copilot.delta"] = "copilot.delta"
    turn_id: int
    text: str
    attempt: int = 0  # as in ``AnswerDeltaEvent``: a rewrite restarts the stream
    stream: str = ""


class CopilotSuggestionEvent(Event):
    """Staff only: a copilot turn ended; ``text`` is empty unless the review approved a reply."""

    type: Literal["copilot.suggestion"] = "copilot.suggestion"
    turn_id: int
    text: str
    citations: list[CitationPayload] = Field(default_factory=list)
    verdict: Literal["approved", "revised", "escalated", "failed"]
    reason: str = ""  # a TurnReason: why there is no confident suggestion


class ConversationHandoffEvent(Event):
    type: Literal["conversation.handoff"] = "conversation.handoff"
    conversation_id: str
    reason: str
    detail: str


class ConversationAssignedEvent(Event):
    type: Literal["conversation.assigned"] = "conversation.assigned"
    conversation_id: str
    status: Literal["bot", "waiting", "assigned", "closed"]
    assignee: AgentPayload | None


class ConversationUpdatedEvent(Event):
    """Sent to agents: a conversation's row in the queue changed."""

    type: Literal["conversation.updated"] = "conversation.updated"
    conversation: ConversationSummary


class ErrorEvent(Event):
    type: Literal["error"] = "error"
    code: str
    detail: str
    retry_after: int | None = None  # seconds, with ``rate_limited`` only
