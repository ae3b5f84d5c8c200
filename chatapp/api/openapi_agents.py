"""OpenAPI paths of agent presence, capacities and the CSV exports (merged into OPENAPI)."""

from __future__ import annotations

from typing import Any

# The helpers of chatapp.api.openapi, repeated: that module imports this one at its end.
_STAFF: list[dict[str, list[str]]] = [{"apiKey": []}]
_ERROR = {"$ref": "#/components/schemas/Error"}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_COMMON_ERRORS = {
    "400": _err("Malformed JSON or invalid body"),
    "401": _err("Missing or bad key"),
    "404": _err("Not found"),
    "429": _err("Rate limited: retry after `retry_after` seconds (also the Retry-After header)"),
}

_PRESENCE = {
    "type": "object",
    "properties": {
        "agent": {
            "type": "object",
            "properties": {"id": {"type": "integer"}, "username": {"type": "string"}},
        },
        "status": {"enum": ["online", "away", "offline"]},
        "effective_status": {"enum": ["online", "away", "offline"]},
        "last_seen": {"type": ["string", "null"], "format": "date-time"},
        "capacity": {"type": "integer"},
        "load": {"type": "integer"},
        "heartbeat_s": {"type": "integer"},
    },
}
_FORBIDDEN = {"403": _err("Not allowed for this role")}
_RANGE_PARAMS = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "description": "YYYY-MM-DD (UTC day, included); default: the last 14 days",
        "schema": {"type": "string", "format": "date"},
    }
    for name in ("start", "end")
]
_CSV = {"description": "CSV, streamed", "content": {"text/csv": {"schema": {"type": "string"}}}}

PATHS: dict[str, Any] = {
    "/api/v1/agents": {
        "get": {
            "summary": "Staff with a presence: status, load and capacity, online first",
            "security": _STAFF,
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"results": {"type": "array", "items": _PRESENCE}},
                    }
                ),
                **_COMMON_ERRORS,
            },
        }
    },
    "/api/v1/agents/me/presence": {
        "get": {
            "summary": "My presence",
            "security": _STAFF,
            "responses": {"200": _json(_PRESENCE), **_COMMON_ERRORS},
        },
        "put": {
            "summary": "Set my presence: online (gets new conversations), away, offline",
            "security": _STAFF,
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["status"],
                    "additionalProperties": False,
                    "properties": {"status": {"enum": ["online", "away", "offline"]}},
                }
            ),
            "responses": {"200": _json(_PRESENCE), **_COMMON_ERRORS},
        },
    },
    "/api/v1/agents/me/heartbeat": {
        "post": {
            "summary": "My console is open (every heartbeat_s); none for the timeout means offline",
            "security": _STAFF,
            "responses": {"200": _json(_PRESENCE), **_COMMON_ERRORS},
        }
    },
    "/api/v1/agents/{agent_id}/capacity": {
        "put": {
            "summary": "Set an agent's capacity for auto-assignment (admin); null: the default",
            "security": _STAFF,
            "parameters": [
                {"name": "agent_id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["capacity"],
                    "additionalProperties": False,
                    "properties": {
                        "capacity": {"type": ["integer", "null"], "minimum": 0, "maximum": 100}
                    },
                }
            ),
            "responses": {"200": _json(_PRESENCE), **_FORBIDDEN, **_COMMON_ERRORS},
        }
    },
    "/api/v1/exports/conversations.csv": {
        "get": {
            "summary": "Conversations started in a date range, as CSV (admin)",
            "security": _STAFF,
            "parameters": _RANGE_PARAMS,
            "responses": {"200": _CSV, **_FORBIDDEN, **_COMMON_ERRORS},
        }
    },
    "/api/v1/exports/turns.csv": {
        "get": {
            "summary": "Turns started in a date range, as CSV (admin)",
            "security": _STAFF,
            "parameters": _RANGE_PARAMS,
            "responses": {"200": _CSV, **_FORBIDDEN, **_COMMON_ERRORS},
        }
    },
}
