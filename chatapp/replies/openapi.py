"""OpenAPI paths of the saved-reply routes (chatapp.api.openapi merges them in)."""

from __future__ import annotations

from typing import Any

from chatapp.replies.models import BODY_MAX_CHARS, SHORTCUT_MAX_CHARS

_ERROR = {"$ref": "#/components/schemas/Error"}
_STAFF: list[dict[str, list[str]]] = [{"apiKey": []}]


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_REPLY = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "shortcut": {"type": "string"},
        "title": {"type": "string"},
        "body": {"type": "string"},
        "text": {"type": "string", "description": "body filled in (with ?conversation_id=)"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_FIELDS = {
    "shortcut": {"type": "string", "minLength": 1, "maxLength": SHORTCUT_MAX_CHARS + 1},
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "body": {"type": "string", "minLength": 1, "maxLength": BODY_MAX_CHARS},
}
_ID = {"name": "reply_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_ERRORS = {
    "400": _err("Invalid body: bad shortcut, empty field, unknown {variable}"),
    "401": _err("Missing or bad key"),
    "403": _err("Agents may only read"),
    "404": _err("No such saved reply or conversation"),
    "429": _err("Rate limited"),
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


PATHS: dict[str, Any] = {
    "/api/v1/saved-replies": {
        "get": {
            "summary": "The team's saved replies (staff)",
            "security": _STAFF,
            "parameters": [
                {"name": "q", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "conversation_id",
                    "in": "query",
                    "schema": {"type": "string", "format": "uuid"},
                },
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"results": {"type": "array", "items": _REPLY}},
                    }
                ),
                **_ERRORS,
            },
        },
        "post": {
            "summary": "Add a saved reply (admin)",
            "security": _STAFF,
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["shortcut", "title", "body"],
                    "additionalProperties": False,
                    "properties": _FIELDS,
                }
            ),
            "responses": {
                "201": _json(_REPLY, "Created"),
                **_ERRORS,
                "409": _err("duplicate shortcut"),
            },
        },
    },
    "/api/v1/saved-replies/{reply_id}": {
        "get": {
            "summary": "One saved reply (staff)",
            "security": _STAFF,
            "parameters": [_ID],
            "responses": {"200": _json(_REPLY), **_ERRORS},
        },
        "patch": {
            "summary": "Change a saved reply (admin)",
            "security": _STAFF,
            "parameters": [_ID],
            "requestBody": _body(
                {"type": "object", "additionalProperties": False, "properties": _FIELDS}
            ),
            "responses": {"200": _json(_REPLY), **_ERRORS, "409": _err("duplicate shortcut")},
        },
        "delete": {
            "summary": "Delete a saved reply (admin)",
            "security": _STAFF,
            "parameters": [_ID],
            "responses": {"200": _json({"type": "object"}), **_ERRORS},
        },
    },
}
