"""The client's IP address, from a request or a websocket scope, behind trusted proxies or not."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

UNKNOWN = "unknown"


def client_ip(*, remote: str | None, forwarded_for: str | None) -> str:
    """The address rate limits and login lockouts are kept by.

    With ``CHATAPP_PROXY_COUNT`` = N > 0, N reverse proxies each appended the address they saw
    to ``X-Forwarded-For``: the client is the N-th address from the right (anything further left
    was written by the client and is not trusted). With 0 (the default), the peer's address.
    """
    proxies: int = settings.CHATAPP_PROXY_COUNT
    if proxies > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            return hops[-proxies] if len(hops) >= proxies else hops[0]
    return remote or UNKNOWN


def request_client_ip(request: HttpRequest) -> str:
    """``client_ip`` of a Django request."""
    return client_ip(
        remote=request.META.get("REMOTE_ADDR"),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
    )


def scope_client_ip(scope: dict[str, Any]) -> str:
    """``client_ip`` of an ASGI scope (websocket or HTTP)."""
    client = scope.get("client")
    remote = str(client[0]) if client else None
    forwarded = None
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            forwarded = value.decode("latin-1")
    return client_ip(remote=remote, forwarded_for=forwarded)


def axes_client_ip(request: HttpRequest) -> str | None:
    """django-axes' ``AXES_CLIENT_IP_CALLABLE``: None when unknown (its column holds addresses)."""
    ip = request_client_ip(request)
    return None if ip == UNKNOWN else ip
