"""Typed messages the pipeline stages pass to each other (stored as the turn's trace).

Each stage takes the previous stage's message as JSON (Celery's serializer) and validates it here,
so a malformed hand-over fails loudly at the boundary instead of deep inside a model call.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1


class Verdict(StrEnum):
    """The reviewer's decision on a draft."""

    APPROVED = "approved"
    REVISE = "revise"  # back to the answerer once, with a critique
    ESCALATED = "escalated"  # to people


class TurnReason(StrEnum):
    """Why a turn ended as it did (or was sent back): stored on the run and the hand-off."""

    NONE = ""
    # approved
    CURATED_ANSWER = "curated_answer"
    CLARIFYING_QUESTION = "clarifying_question"
    # sent back for a rewrite
    UNSUPPORTED_CLAIMS = "unsupported_claims"
    # handed to people
    VISITOR_REQUEST = "visitor_request"
    NO_RELEVANT_PASSAGES = "no_relevant_passages"
    UNSUPPORTED_ANSWER = "unsupported_answer"
    POLICY_VIOLATION = "policy_violation"
    NO_CLAIMS = "no_claims"
    EMPTY_ANSWER = "empty_answer"
    PARTLY_UNANSWERED = "partly_unanswered"
    PIPELINE_FAILED = "pipeline_failed"
    AGENT_TOOK_OVER = "agent_took_over"
    CONCURRENT_TURN = "concurrent_turn"  # an older duplicate run, ended by migration 0002


class StageMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: int


class HistoryTurn(BaseModel):
    """An earlier message of the conversation, for follow-up questions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    text: str


class TurnRequest(StageMessage):
    """The web side asks the pipeline to answer one visitor message."""

    kind: Literal["turn_request"] = "turn_request"
    conversation_id: str
    message_id: int
    question: str
    knowledge_base_ids: list[int]
    history: list[HistoryTurn] = Field(default_factory=list)


class PassageRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: int = Field(ge=1, description="Number the answerer cites as [ref]")
    chunk_id: int
    document_id: int
    title: str
    text: str
    score: float
    found_by: list[Literal["vector", "keyword"]] = Field(default_factory=list)
    source_url: str = ""
    # What the models read: the sentences that matter to the question (context budget), minus
    # any instructions aimed at the assistant; "" means the whole text.
    excerpt: str = ""
    quarantined: list[str] = Field(
        default_factory=list, description="Sentences removed as injected instructions"
    )

    @property
    def model_text(self) -> str:
        """The text the answerer and the reviewer read."""
        return self.excerpt or self.text


class CuratedAnswerRef(BaseModel):
    """An admin-written answer whose question matched the visitor's closely enough to win."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    question: str
    answer: str
    similarity: float


class KnowledgeBaseRoute(BaseModel):
    """A knowledge base's evidence for a question, and whether the retriever searched it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    knowledge_base_id: int
    name: str
    relevance: float  # its best hit's calibrated relevance in the shared pool (0: no hit)
    hits: int = 0  # its chunks in the pool
    chosen: bool


class QuestionPart(BaseModel):
    """One part of a question with several, searched on its own (the retriever's allocation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    search_query: str
    refs: list[int] = Field(default_factory=list, description="Passages found for this part")
    relevance: float = 0.0  # the best passage's calibrated relevance
    answerable: bool = True  # relevance reached CHATAPP_RETRIEVAL_MIN_SCORE
    routes: list[KnowledgeBaseRoute] = Field(default_factory=list)  # with several bases


class RetrievalResult(StageMessage):
    """Retriever → answerer: the passages found for the question."""

    kind: Literal["retrieval_result"] = "retrieval_result"
    conversation_id: str
    question: str
    passages: list[PassageRef]
    nothing_relevant: bool = False
    curated: CuratedAnswerRef | None = None
    history: list[HistoryTurn] = Field(default_factory=list)
    search_query: str = ""
    model: str = ""
    # Several parts: each searched on its own; the passages are those of answerable parts.
    parts: list[QuestionPart] = Field(default_factory=list)
    # A vague question whose passages point at different topics: this question goes back.
    clarify: str = ""
    # With several knowledge bases: where the (whole) question was sent, and why. A question
    # with several parts records this per part instead.
    routes: list[KnowledgeBaseRoute] = Field(default_factory=list)


class Citation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: int
    document_id: int
    chunk_id: int
    title: str
    quote: str


class EvidenceSentence(BaseModel):
    """A passage sentence weighed as the answer's evidence before the answer was written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: int  # the passage it comes from
    sentence: str
    support: float  # the model's P(Yes) that it answers the question
    chosen: bool = False  # the answerer read it (and, of its passages, only what was chosen)


class ClaimReview(BaseModel):
    """The reviewer's verdict on one sentence (made before the visitor saw it, when gated)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sentence: str
    support: float
    refs: list[int]
    unsupported_numbers: list[str] = Field(default_factory=list)
    claim: bool = True  # False: a bare pleasantry, released without the judge
    policy: str = ""  # the policy code that refused it
    grounding: str = ""  # the grounding check that refused it (workers.inference.grounding)
    released: bool = True  # shown to the visitor
    ms: int = 0


class DraftAnswer(StageMessage):
    """Answerer → reviewer: a draft with its citations (and the critique it addressed, if any)."""

    kind: Literal["draft_answer"] = "draft_answer"
    conversation_id: str
    attempt: int = Field(ge=0)
    question: str
    passages: list[PassageRef]
    text: str
    citations: list[Citation]
    critique: str | None = None
    curated: CuratedAnswerRef | None = None
    history: list[HistoryTurn] = Field(default_factory=list)
    skipped: Literal["nothing_relevant", "superseded"] | None = None
    tokens: int = 0
    model: str = ""
    # The sentence gate: each sentence's review, made while the answer was written, and the
    # approved text the visitor saw (text is the raw draft, for staff).
    gated: bool = False
    released: str = ""
    checks: list[ClaimReview] = Field(default_factory=list)
    withheld: str = Field(
        default="",
        description="The last sentence, cut off by the token limit: neither reviewed nor shown",
    )
    clarifying: bool = False  # text is a question back to the visitor, not an answer
    parts: list[QuestionPart] = Field(default_factory=list)
    evidence: list[EvidenceSentence] = Field(
        default_factory=list,
        description="Evidence first: the sentences weighed; the answer was written from the chosen",
    )
    unanswered: list[str] = Field(
        default_factory=list, description="Parts of the question nothing relevant was found for"
    )


class ReviewVerdict(StageMessage):
    """Reviewer's decision on a draft: approve, send back with a critique, or escalate."""

    kind: Literal["review_verdict"] = "review_verdict"
    conversation_id: str
    attempt: int = Field(ge=0)
    verdict: Verdict
    confidence: float = Field(ge=0.0, le=1.0)
    critique: str = ""
    reason: TurnReason = TurnReason.NONE
    claims: list[ClaimReview] = Field(default_factory=list)
    model: str = ""
