"""OpenAPI paths of the webhook routes (merged into chatapp.api.openapi.OPENAPI)."""

from __future__ import annotations

from typing import Any

from chatapp.webhooks.events import EVENT_NAMES

_STAFF: list[dict[str, list[str]]] = [{"apiKey": []}]
_ERROR = {"$ref": "#/components/schemas/Error"}
_OBJ = {"type": "object"}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _err("Malformed JSON or invalid body (`fields` says which)"),
    "401": _err("Missing or bad key"),
    "403": _err("Not an admin"),
    "404": _err("Not found"),
    "429": _err("Rate limited"),
}
_ID = {"name": "webhook_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_DELIVERY_ID = {
    "name": "delivery_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer"},
}
_CREATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url", "secret", "events"],
    "properties": {
        "url": {"type": "string", "minLength": 1, "maxLength": 1000},
        "secret": {"type": "string", "minLength": 1, "maxLength": 200},
        "events": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "items": {"type": "string", "enum": list(EVENT_NAMES)},
        },
        "description": {"type": "string", "maxLength": 200},
    },
}

WEBHOOK_PATHS: dict[str, Any] = {
    "/api/v1/webhooks": {
        "get": {
            "summary": "List webhook endpoints (admin; secrets are never returned)",
            "security": _STAFF,
            "responses": {"200": _json(_OBJ), **_ERRORS},
        },
        "post": {
            "summary": "Register a webhook endpoint (admin)",
            "security": _STAFF,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _CREATE}},
            },
            "responses": {"201": _json(_OBJ, "Created: the endpoint, with its id"), **_ERRORS},
        },
    },
    "/api/v1/webhooks/{webhook_id}": {
        "get": {
            "summary": "One webhook endpoint (admin)",
            "security": _STAFF,
            "parameters": [_ID],
            "responses": {"200": _json(_OBJ), **_ERRORS},
        },
        "delete": {
            "summary": "Delete a webhook endpoint and its deliveries (admin)",
            "security": _STAFF,
            "parameters": [_ID],
            "responses": {"200": _json(_OBJ), **_ERRORS},
        },
    },
    "/api/v1/webhooks/{webhook_id}/deliveries": {
        "get": {
            "summary": "The endpoint's 100 most recent deliveries, newest first (admin)",
            "security": _STAFF,
            "parameters": [
                _ID,
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["pending", "succeeded", "failed"]},
                },
            ],
            "responses": {"200": _json(_OBJ), **_ERRORS},
        }
    },
    "/api/v1/webhook-deliveries/{delivery_id}/redeliver": {
        "post": {
            "summary": "Send a delivery's event again, as a new delivery (admin)",
            "security": _STAFF,
            "parameters": [_DELIVERY_ID],
            "responses": {"202": _json(_OBJ, "Queued: the new delivery"), **_ERRORS},
        }
    },
}
