"""Around every ``/api/`` request: the per-address limit, Server-Timing, and a JSON 405.

These wrap the API as a whole: the limit runs before authentication, the timing header covers
every step the operation recorded, and django-ninja's plain-text 405 becomes the API's error body.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from chatapp.api.errors import application_error
from chatapp.api.http import error_response
from chatapp.core.client_ip import request_client_ip
from chatapp.core.ratelimit import RateLimited, api_request_limits, rate_limit_hit
from chatapp.core.timing import timing_for

API_PREFIX = "/api/"
METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        timing = timing_for(request)
        try:
            with timing.step("limit"):
                rate_limit_hit(*api_request_limits(ip=request_client_ip(request)))
        except RateLimited as exc:
            return application_error(request, exc)
        response = self.get_response(request)
        if response.status_code == 405 and response.get("Content-Type", "").startswith("text/"):
            response = _method_not_allowed(response)
        timing.apply(response)
        return response


def _method_not_allowed(refused: HttpResponse) -> HttpResponse:
    allowed = {m.strip() for m in refused.get("Allow", "").split(",") if m.strip()}
    methods = [m for m in METHOD_ORDER if m in allowed]
    response = error_response("method_not_allowed", f"Use {', '.join(methods)}.", 405)
    response["Allow"] = ", ".join(methods)
    return response
