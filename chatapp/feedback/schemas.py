"""Request bodies of the feedback routes (validated; unknown fields are refused)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chatapp.core.validators import storable_text
from chatapp.feedback.models import COMMENT_MAX_CHARS, CSAT_MAX, CSAT_MIN

Comment = Annotated[str, Field(max_length=COMMENT_MAX_CHARS), AfterValidator(storable_text)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnswerFeedbackCreate(Body):
    rating: Literal["up", "down"]
    comment: Comment = ""


class CsatCreate(Body):
    # strict: "5" or 4.5 are refused rather than coerced, so clients learn the contract.
    score: int = Field(ge=CSAT_MIN, le=CSAT_MAX, strict=True)
    comment: Comment = ""


class AnswerFeedbackOut(Body):
    message_id: int
    rating: Literal["up", "down"]
    comment: str
    replaced: bool = Field(description="True when it replaced the visitor's earlier rating")


class CsatOut(Body):
    conversation_id: str
    score: int
    comment: str
    replaced: bool = Field(description="True when it replaced the visitor's earlier score")
