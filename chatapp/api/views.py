"""Plain views beside the REST API: the health probe and the JSON 404."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from chatapp.api.http import error_response
from chatapp.api.responses import HealthOut
from chatapp.core.health import system_health


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response("not_found", "No such endpoint.", 404)


def healthz(request: HttpRequest) -> JsonResponse:
    """Not rate limited and unauthenticated: load balancers and probes call it often."""
    if request.method not in ("GET", "HEAD"):
        return error_response("method_not_allowed", "Use GET.", 405)
    health = system_health()
    body = HealthOut(
        status="ok" if health.ok else "unavailable",
        checks=health.checks,
        missing=None if health.ok else health.missing,
    )
    data: dict[str, Any] = body.model_dump(exclude_none=True)
    return JsonResponse(data, status=200 if health.ok else 503)
