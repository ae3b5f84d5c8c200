"""The answer to a login refused by django-axes (too many failures): 429 with ``Retry-After``."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKED_DETAIL = "Too many failed logins; try again in {minutes} minutes."


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the login page says why, JSON clients get the error body.

    A refused try during the lockout starts the cool-off again
    (``AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT``), so the whole cool-off is the wait.
    """
    retry_after = int(settings.CHATAPP_LOGIN_COOLOFF_S)
    detail = LOCKED_DETAIL.format(minutes=max(1, math.ceil(retry_after / 60)))
    response: HttpResponse
    if "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse(
            {"error": {"code": "locked_out", "detail": detail, "retry_after": retry_after}},
            status=429,
        )
    else:
        response = render(request, "accounts/locked.html", {"detail": detail}, status=429)
    response["Retry-After"] = str(retry_after)
    return response
