"""JSON API helpers: the error body, validation-error fields, and reading bodies by hand.

Most operations get their bodies from django-ninja (``chatapp.api.app``); ``parse_json`` and
``validate`` serve the few that accept more than one content type (a document as JSON or as a
multipart file).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from pydantic import BaseModel, ValidationError

from chatapp.api.security import bearer_token
from chatapp.core.errors import ApplicationError

__all__ = [
    "ERR_BODY_TOO_LARGE",
    "ERR_INVALID",
    "bearer_token",
    "django_fields",
    "error_response",
    "invalid_request",
    "parse_json",
    "pydantic_fields",
    "validate",
]

M = TypeVar("M", bound=BaseModel)
ERR_INVALID = "The body does not match the schema."
ERR_BODY_TOO_LARGE = "The request body is too large."
ERR_JSON = "The body is not valid JSON."
ERR_MEDIA_TYPE = "Send a JSON body (Content-Type: application/json)."


def error_response(code: str, detail: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "detail": detail, **extra}}, status=status)


def invalid_request(fields: list[dict[str, str]]) -> ApplicationError:
    """The one shape of a validation error: 400 ``invalid_request`` with ``fields``."""
    return ApplicationError("invalid_request", ERR_INVALID, fields=fields)


def pydantic_fields(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
    ]


def django_fields(exc: DjangoValidationError) -> list[dict[str, str]]:
    if hasattr(exc, "error_dict"):
        return [
            {"field": name, "message": str(message)}
            for name, errors in exc.message_dict.items()
            for message in errors
        ]
    return [{"field": "", "message": str(message)} for message in exc.messages]


def json_body(request: HttpRequest) -> Any:
    """The decoded JSON body (``{}`` when empty).

    Raises:
        ApplicationError: ``unsupported_media_type`` (415) or ``invalid_json`` (400).
    """
    if request.content_type != "application/json":
        raise ApplicationError("unsupported_media_type", ERR_MEDIA_TYPE, status=415)
    raw = request.body or b"{}"
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApplicationError("invalid_json", ERR_JSON) from None


def parse_json(request: HttpRequest, schema: type[M]) -> M:
    """Decode and validate a JSON body.

    Raises:
        ApplicationError: as ``json_body``, or ``invalid_request`` (schema mismatch).
    """
    return validate(schema, json_body(request))


def validate(schema: type[M], data: Any) -> M:
    """Validate decoded data (a JSON body, form fields) against a request schema.

    Raises:
        ApplicationError: ``invalid_request`` with the ``fields`` at fault.
    """
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise invalid_request(pydantic_fields(exc)) from None
