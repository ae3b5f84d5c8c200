"""OpenAPI paths of the feedback routes (chatapp.api.openapi merges them in)."""

from __future__ import annotations

from typing import Any

from chatapp.feedback.models import COMMENT_MAX_CHARS, CSAT_MAX, CSAT_MIN

_ERROR = {"$ref": "#/components/schemas/Error"}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _created(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "Stored", "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_VISITOR: list[dict[str, list[str]]] = [{"conversationToken": []}]
_CONV = {
    "name": "conversation_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_MESSAGE = {"name": "message_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_COMMENT = {"type": "string", "maxLength": COMMENT_MAX_CHARS}
_ERRORS = {
    "400": _err("Invalid body (invalid_request), or not a bot answer (not_a_bot_answer)"),
    "401": _err("Without this conversation's token"),
    "403": _err("Staff: only the visitor rates"),
    "404": _err("No such conversation or message"),
    "429": _err("Rate limited"),
}

SECURITY_SCHEMES: dict[str, Any] = {
    "conversationToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Conversation-Token",
        "description": "The visitor token POST /api/v1/conversations returned",
    }
}

PATHS: dict[str, Any] = {
    "/api/v1/conversations/{conversation_id}/messages/{message_id}/feedback": {
        "post": {
            "summary": "Rate a bot answer up or down (the visitor); a second rating replaces it",
            "security": _VISITOR,
            "parameters": [_CONV, _MESSAGE],
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["rating"],
                    "additionalProperties": False,
                    "properties": {"rating": {"enum": ["up", "down"]}, "comment": _COMMENT},
                }
            ),
            "responses": {
                "201": _created(
                    {
                        "type": "object",
                        "properties": {
                            "message_id": {"type": "integer"},
                            "rating": {"enum": ["up", "down"]},
                            "comment": {"type": "string"},
                            "replaced": {"type": "boolean"},
                        },
                    }
                ),
                **_ERRORS,
            },
        }
    },
    "/api/v1/conversations/{conversation_id}/csat": {
        "post": {
            "summary": "Rate a closed conversation 1-5 (the visitor); a second score replaces it",
            "security": _VISITOR,
            "parameters": [_CONV],
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["score"],
                    "additionalProperties": False,
                    "properties": {
                        "score": {"type": "integer", "minimum": CSAT_MIN, "maximum": CSAT_MAX},
                        "comment": _COMMENT,
                    },
                }
            ),
            "responses": {
                "201": _created(
                    {
                        "type": "object",
                        "properties": {
                            "conversation_id": {"type": "string"},
                            "score": {"type": "integer"},
                            "comment": {"type": "string"},
                            "replaced": {"type": "boolean"},
                        },
                    }
                ),
                **_ERRORS,
                "409": _err("not_closed: the conversation is still open"),
            },
        }
    },
}
