"""``/metrics``: Prometheus text of every process, open to loopback, else behind a token."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from chatapp.api.http import bearer_token, error_response
from chatapp.core.client_ip import request_client_ip
from chatapp.observability.exposition import render_metrics

ERR_TOKEN = "Send Authorization: Bearer <CHATAPP_METRICS_TOKEN>."  # noqa: S105  (a message)
ERR_LOOPBACK_ONLY = (
    "Metrics are served to loopback only; set CHATAPP_METRICS_TOKEN to allow others."
)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    token: str = settings.CHATAPP_METRICS_TOKEN
    if not _loopback(request_client_ip(request)):
        if not token:
            return error_response("forbidden", ERR_LOOPBACK_ONLY, 403)
        sent = bearer_token(request) or ""
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return error_response("unauthenticated", ERR_TOKEN, 401)
    body, content_type = render_metrics()
    return HttpResponse(body, content_type=content_type)
