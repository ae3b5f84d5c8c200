"""OpenAPI 3.1 description of the REST API (at /api/v1/openapi.json; prose in docs/api.md)."""

from __future__ import annotations

from typing import Any

from chatapp.feedback import openapi as feedback_openapi
from chatapp.replies import openapi as replies_openapi
from chatapp.webhooks.openapi import WEBHOOK_PATHS

_ERROR = {"$ref": "#/components/schemas/Error"}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_STAFF: list[dict[str, list[str]]] = [{"apiKey": []}]
_OBJ = {"type": "object"}
_ID_PARAM = {
    "name": "conversation_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_KB_PARAM = {"name": "kb_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_DOC_PARAM = {"name": "document_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_JOB = {"$ref": "#/components/schemas/ImportJob"}
_COMMON_ERRORS = {
    "400": _err("Malformed JSON or invalid body"),
    "401": _err("Missing or bad key"),
    "404": _err("Not found"),
    "429": _err("Rate limited: retry after `retry_after` seconds (also the Retry-After header)"),
}
# Bounds of the REST text fields (docs/api.md#limits); message text follows
# CHATAPP_MESSAGE_MAX_CHARS, whose default is given here.
_URL = {"type": "string", "maxLength": 1000, "pattern": "^(https?://.+)?$"}
_TITLE = {"type": "string", "minLength": 1, "maxLength": 500}

_COPILOT = {
    "type": "object",
    "required": ["turn_id", "status", "suggestion"],
    "properties": {
        "turn_id": {"type": ["integer", "null"]},
        "status": {"type": ["string", "null"]},
        "suggestion": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "citations": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Citation"},
                        },
                        "verdict": {"enum": ["approved", "revised", "escalated", "failed"]},
                        "reason": {"type": "string"},
                    },
                },
            ]
        },
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "chatapp API",
        "version": "1.0.0",
        "description": "See docs/api.md for the websocket protocol and examples.",
    },
    "components": {
        "securitySchemes": {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "manage.py create_api_key USER --role ...",
            }
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "detail"],
                        "properties": {"code": {"type": "string"}, "detail": {"type": "string"}},
                    }
                },
            },
            "ImportJob": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "knowledge_base_id": {"type": "integer"},
                    "kind": {"enum": ["import", "reindex"]},
                    "status": {"enum": ["receiving", "queued", "running", "done"]},
                    "source": {"type": "string"},
                    "documents": {
                        "type": "object",
                        "description": "Items by status, plus total, done and pending",
                        "properties": {
                            k: {"type": "integer"}
                            for k in (
                                "total",
                                "done",
                                "pending",
                                "refused",
                                "unchanged",
                                "queued",
                                "indexing",
                                "ready",
                                "failed",
                                "superseded",
                            )
                        },
                    },
                    "chunks": {"type": "integer"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "started_at": {"type": ["string", "null"], "format": "date-time"},
                    "finished_at": {"type": ["string", "null"], "format": "date-time"},
                    "analyzed_at": {"type": ["string", "null"], "format": "date-time"},
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "position": {"type": "integer"},
                                "name": {"type": "string"},
                                "status": {"enum": ["refused", "failed"]},
                                "error": {"type": "string"},
                                "document_id": {"type": ["integer", "null"]},
                            },
                        },
                    },
                    "errors_truncated": {"type": "boolean"},
                },
            },
            "Citation": {
                "type": "object",
                "properties": {
                    "document_id": {"type": "integer"},
                    "chunk_id": {"type": "integer"},
                    "title": {"type": "string"},
                    "quote": {"type": "string"},
                    "source_url": {"type": "string"},
                },
            },
            "Message": {
                "type": "object",
                "required": ["id", "role", "text", "created_at"],
                "properties": {
                    "id": {"type": "integer"},
                    "conversation_id": {"type": "string"},
                    "role": {"enum": ["visitor", "bot", "agent", "system"]},
                    "text": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "client_msg_id": {"type": ["string", "null"]},
                    "author": {"type": ["string", "null"]},
                    "turn_id": {"type": ["integer", "null"]},
                    "citations": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Citation"},
                    },
                    "review": {
                        "type": ["object", "null"],
                        "properties": {
                            "verdict": {"enum": ["approved", "revised", "escalated"]},
                            "confidence": {"type": "number"},
                        },
                    },
                },
            },
        },
    },
    "paths": {
        "/healthz": {
            "get": {
                "summary": "Database, broker and, per queue, a worker able to take tasks",
                "responses": {
                    "200": _json(_OBJ),
                    "503": _json(_OBJ, "Something is missing (named in `missing`)"),
                },
            }
        },
        "/api/v1/conversations": {
            "post": {
                "summary": "Open a conversation (no auth)",
                "requestBody": _body(
                    {
                        "type": "object",
                        "properties": {
                            "knowledge_base_ids": {"type": "array", "items": {"type": "integer"}}
                        },
                        "additionalProperties": False,
                    }
                ),
                "responses": {
                    "201": _json(
                        {
                            "type": "object",
                            "required": ["id", "token", "websocket_url"],
                            "properties": {
                                "id": {"type": "string"},
                                "token": {"type": "string"},
                                "websocket_url": {"type": "string"},
                            },
                        },
                        "Created",
                    ),
                    "400": _err("Invalid body or unknown knowledge base (staff)"),
                    "403": _err("A knowledge base anonymous visitors may not use"),
                },
            }
        },
        "/api/v1/conversations/{conversation_id}": {
            "get": {
                "summary": "A conversation with its messages (visitor token or staff key)",
                "parameters": [_ID_PARAM],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string"},
                                "status": {"enum": ["bot", "waiting", "assigned", "closed"]},
                                "assignee": {"type": ["object", "null"]},
                                "messages": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Message"},
                                },
                            },
                        }
                    ),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/v1/conversations/{conversation_id}/messages": {
            "post": {
                "summary": "Agent reply",
                "security": _STAFF,
                "parameters": [_ID_PARAM],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["text"],
                        "properties": {
                            "text": {"type": "string", "minLength": 1, "maxLength": 4000}
                        },
                    }
                ),
                "responses": {
                    "201": _json({"$ref": "#/components/schemas/Message"}),
                    "409": _err("Not assigned to you"),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/v1/conversations/{conversation_id}/assign": {
            "post": {
                "summary": "Claim (no body) or transfer (agent_id)",
                "security": _STAFF,
                "parameters": [_ID_PARAM],
                "requestBody": _body(
                    {"type": "object", "properties": {"agent_id": {"type": ["integer", "null"]}}}
                ),
                "responses": {
                    "200": _json(_OBJ),
                    "409": _err("Held by someone else"),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/v1/conversations/{conversation_id}/release": {
            "post": {
                "summary": "Hand back to the bot",
                "security": _STAFF,
                "parameters": [_ID_PARAM],
                "responses": {"200": _json(_OBJ), **_COMMON_ERRORS},
            }
        },
        "/api/v1/conversations/{conversation_id}/close": {
            "post": {
                "summary": "Close",
                "security": _STAFF,
                "parameters": [_ID_PARAM],
                "responses": {"200": _json(_OBJ), **_COMMON_ERRORS},
            }
        },
        "/api/v1/conversations/{conversation_id}/notes": {
            "post": {
                "summary": "Internal note",
                "security": _STAFF,
                "parameters": [_ID_PARAM],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["text"],
                        "properties": {
                            "text": {"type": "string", "minLength": 1, "maxLength": 10000}
                        },
                    }
                ),
                "responses": {"201": _json(_OBJ), **_COMMON_ERRORS},
            }
        },
        "/api/v1/conversations/{conversation_id}/copilot": {
            "get": {
                "summary": "The latest suggested reply (holder or admin)",
                "security": _STAFF,
                "parameters": [_ID_PARAM],
                "responses": {
                    "200": _json(_COPILOT),
                    "403": _err("Neither the holder nor an admin"),
                    **_COMMON_ERRORS,
                },
            },
            "post": {
                "summary": "Draft a suggested reply to the visitor's latest messages (staff only)",
                "security": _STAFF,
                "parameters": [_ID_PARAM],
                "requestBody": _body({"type": "object", "additionalProperties": False}),
                "responses": {
                    "202": _json(
                        {
                            "type": "object",
                            "required": ["turn_id", "status"],
                            "properties": {
                                "turn_id": {"type": "integer"},
                                "status": {"type": "string"},
                            },
                        },
                        "Drafting; the result arrives as copilot.suggestion on staff sockets",
                    ),
                    "403": _err("Neither the holder nor an admin"),
                    "409": _err("closed, or not_assigned (no agent holds it)"),
                    **_COMMON_ERRORS,
                },
            },
        },
        "/api/v1/knowledge-bases": {
            "get": {"summary": "List", "security": _STAFF, "responses": {"200": _json(_OBJ)}},
            "post": {
                "summary": "Create (admin)",
                "security": _STAFF,
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string"},
                            "description": {"type": "string"},
                            "is_default": {"type": "boolean"},
                            "visibility": {
                                "type": "string",
                                "enum": ["public", "internal"],
                                "default": "internal",
                            },
                        },
                    }
                ),
                "responses": {
                    "201": _json({"type": "object", "properties": {"id": {"type": "integer"}}}),
                    "409": _err("Name taken"),
                    **_COMMON_ERRORS,
                },
            },
        },
        "/api/v1/knowledge-bases/{kb_id}/documents": {
            "get": {
                "summary": "The knowledge base's documents with their status, newest change first",
                "security": _STAFF,
                "parameters": [_KB_PARAM],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "results": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "id": {"type": "integer"},
                                            "title": {"type": "string"},
                                            "filename": {"type": "string"},
                                            "source_url": {"type": "string"},
                                            "status": {
                                                "enum": ["queued", "indexing", "ready", "failed"]
                                            },
                                            "chunks": {"type": "integer"},
                                            "error": {"type": ["string", "null"]},
                                            "created_at": {"type": "string", "format": "date-time"},
                                            "updated_at": {"type": "string", "format": "date-time"},
                                        },
                                    },
                                }
                            },
                        }
                    ),
                    **_COMMON_ERRORS,
                },
            },
            "post": {
                "summary": "Add a document: JSON {title, text, source_url?} or multipart `file`",
                "security": _STAFF,
                "parameters": [_KB_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["title", "text"],
                                "properties": {
                                    "title": _TITLE,
                                    "text": {"type": "string", "minLength": 1},
                                    "source_url": _URL,
                                },
                            }
                        },
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "title": {"type": "string", "maxLength": 500},
                                    "source_url": _URL,
                                },
                            }
                        },
                    },
                },
                "responses": {
                    "202": _json(
                        {
                            "type": "object",
                            "properties": {"id": {"type": "integer"}, "status": {"type": "string"}},
                        },
                        "Queued",
                    ),
                    "413": _err("Too large"),
                    "415": _err("Unsupported type"),
                    **_COMMON_ERRORS,
                },
            },
        },
        "/api/v1/knowledge-bases/{kb_id}/imports": {
            "get": {
                "summary": "The knowledge base's latest import and re-index jobs (without errors)",
                "security": _STAFF,
                "parameters": [_KB_PARAM],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"results": {"type": "array", "items": _JOB}},
                        }
                    ),
                    **_COMMON_ERRORS,
                },
            },
            "post": {
                "summary": "Add many documents as one import job: JSON lines, a zip, or files",
                "security": _STAFF,
                "parameters": [_KB_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-ndjson": {
                            "schema": {
                                "type": "string",
                                "description": 'One {"title", "text", "source_url"?} a line',
                            }
                        },
                        "application/zip": {"schema": {"type": "string", "format": "binary"}},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {
                                        "type": "array",
                                        "items": {"type": "string", "format": "binary"},
                                    }
                                },
                            }
                        },
                    },
                },
                "responses": {
                    "202": _json(_JOB, "Stored and queued; bad lines and files are items' errors"),
                    "413": _err("Too large or too many documents"),
                    "415": _err("Unsupported type"),
                    **_COMMON_ERRORS,
                },
            },
        },
        "/api/v1/knowledge-bases/{kb_id}/reindex": {
            "post": {
                "summary": "Index every document again, as a job (admin)",
                "security": _STAFF,
                "parameters": [_KB_PARAM],
                "responses": {
                    "202": _json(_JOB, "Queued"),
                    "403": _err("Not an admin"),
                    "409": _err("A re-index of it is running"),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/v1/imports/{job_id}": {
            "get": {
                "summary": "An import job's progress and its refused or failed items",
                "security": _STAFF,
                "parameters": [
                    {
                        "name": "job_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {"200": _json(_JOB), **_COMMON_ERRORS},
            }
        },
        "/api/v1/documents/{document_id}": {
            "get": {
                "summary": "Indexing status",
                "security": _STAFF,
                "parameters": [_DOC_PARAM],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "id": {"type": "integer"},
                                "status": {"enum": ["queued", "indexing", "ready", "failed"]},
                                "chunks": {"type": "integer"},
                                "error": {"type": ["string", "null"]},
                            },
                        }
                    ),
                    **_COMMON_ERRORS,
                },
            },
            "delete": {
                "summary": "Delete with its chunks",
                "security": _STAFF,
                "parameters": [_DOC_PARAM],
                "responses": {"200": _json(_OBJ), **_COMMON_ERRORS},
            },
        },
        "/api/v1/documents/{document_id}/retry": {
            "post": {
                "summary": "Queue a failed document again",
                "security": _STAFF,
                "parameters": [_DOC_PARAM],
                "responses": {"202": _json(_OBJ), **_COMMON_ERRORS},
            }
        },
        "/api/v1/knowledge-bases/{kb_id}/search": {
            "post": {
                "summary": "Hybrid search",
                "security": _STAFF,
                "parameters": [_KB_PARAM],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["query"],
                        "properties": {
                            "query": {"type": "string"},
                            "k": {"type": "integer", "minimum": 1, "maximum": 50},
                        },
                    }
                ),
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "results": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "document_id": {"type": "integer"},
                                            "chunk_id": {"type": "integer"},
                                            "title": {"type": "string"},
                                            "text": {"type": "string"},
                                            "score": {"type": "number"},
                                        },
                                    },
                                }
                            },
                        }
                    ),
                    **_COMMON_ERRORS,
                },
            }
        },
    },
}

_CURATED_PARAM = {
    "name": "curated_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer"},
}
_CURATED = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "knowledge_base_id": {"type": "integer"},
        "question": {"type": "string"},
        "answer": {"type": "string"},
        "is_active": {"type": "boolean"},
    },
}
OPENAPI["paths"]["/api/v1/knowledge-bases/{kb_id}/curated-answers"] = {
    "get": {
        "summary": "Curated answers (FAQ overrides) of a knowledge base",
        "security": _STAFF,
        "parameters": [_KB_PARAM],
        "responses": {
            "200": _json(
                {"type": "object", "properties": {"results": {"type": "array", "items": _CURATED}}}
            ),
            **_COMMON_ERRORS,
        },
    },
    "post": {
        "summary": "Add a curated answer (admin); it wins over generated answers on a close match",
        "security": _STAFF,
        "parameters": [_KB_PARAM],
        "requestBody": _body(
            {
                "type": "object",
                "required": ["question", "answer"],
                "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
            }
        ),
        "responses": {"201": _json(_CURATED, "Created"), **_COMMON_ERRORS},
    },
}
OPENAPI["paths"]["/api/v1/curated-answers/{curated_id}"] = {
    "delete": {
        "summary": "Delete a curated answer (admin)",
        "security": _STAFF,
        "parameters": [_CURATED_PARAM],
        "responses": {"200": _json(_OBJ), **_COMMON_ERRORS},
    }
}
# Routes of other apps, described next to their views.
OPENAPI["paths"].update(feedback_openapi.PATHS)
OPENAPI["paths"].update(replies_openapi.PATHS)
OPENAPI["components"]["securitySchemes"].update(feedback_openapi.SECURITY_SCHEMES)

# Agents and exports live in their own module (this one is long enough); imported last, since
# it reuses the helpers above.
from chatapp.api.openapi_agents import PATHS as _AGENT_PATHS  # noqa: E402

OPENAPI["paths"].update(_AGENT_PATHS)

OPENAPI["paths"].update(WEBHOOK_PATHS)
