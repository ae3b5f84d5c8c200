"""JSON API plumbing: one decorator for method checks, auth, body parsing and error bodies."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from pydantic import BaseModel, ValidationError

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_authenticate
from chatapp.core.errors import ApplicationError
from chatapp.core.timing import timing_for

logger = logging.getLogger(__name__)

Auth = Literal["none", "staff", "admin", "any"]
M = TypeVar("M", bound=BaseModel)
View = Callable[..., HttpResponse]


def error_response(code: str, detail: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "detail": detail, **extra}}, status=status)


def bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _staff_user(request: HttpRequest) -> User | None:
    """The staff member behind an API key, or a logged-in staff session (CSRF checked)."""
    token = bearer_token(request)
    if token is not None:
        return api_key_authenticate(token)
    user = request.user
    if isinstance(user, User) and user.is_authenticated and user.is_staff_member:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            failure = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(
                request, lambda r: HttpResponse(), (), {}
            )
            if failure is not None:
                raise ApplicationError("csrf_failed", "CSRF check failed.", status=403)
        return user
    return None


def api_view(methods: tuple[str, ...], auth: Auth = "none") -> Callable[[View], View]:
    """Wrap a JSON view: allowed methods, authentication, and errors as ``{"error": {...}}``.

    ``auth="staff"`` requires an agent/admin API key or session; ``"admin"`` an admin;
    ``"any"`` passes ``request.staff`` (or None) and lets the view check visitor tokens.
    """

    def decorate(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return error_response("method_not_allowed", f"Use {', '.join(methods)}.", 405)
            timing = timing_for(request)
            try:
                with timing.step("auth"):
                    staff = _staff_user(request) if auth != "none" else None
                if auth in ("staff", "admin") and staff is None:
                    if bearer_token(request) is not None:
                        return error_response("invalid_token", "Unknown or revoked API key.", 401)
                    return error_response(
                        "unauthenticated", "Send Authorization: Bearer <API key>.", 401
                    )
                if auth == "admin" and staff is not None and not staff.is_admin_role:
                    return error_response("forbidden", "Admins only.", 403)
                request.staff = staff  # type: ignore[attr-defined]  # set for the view
                response = view(request, *args, **kwargs)
                timing.apply(response)
                return response
            except ApplicationError as exc:
                return JsonResponse(exc.as_dict(), status=exc.status)
            except Exception:
                logger.exception("unhandled error in %s", view.__name__)
                return error_response("server_error", "Something went wrong on our side.", 500)

        return wrapper

    return decorate


def parse_json(request: HttpRequest, schema: type[M]) -> M:
    """Decode and validate a JSON body.

    Raises:
        ApplicationError: ``invalid_json`` (malformed) or ``invalid_request`` (schema mismatch).
    """
    if request.content_type != "application/json":
        raise ApplicationError(
            "unsupported_media_type",
            "Send a JSON body (Content-Type: application/json).",
            status=415,
        )
    raw = request.body or b"{}"
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApplicationError("invalid_json", "The body is not valid JSON.") from None
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise ApplicationError(
            "invalid_request", "The body does not match the schema.", fields=fields
        ) from None
