"""Which page origins may open which socket: visitors an allow-list, staff only trusted origins.

Channels' ``AllowedHostsOriginValidator`` refused at the handshake (HTTP 403, no close code a
browser can read) and refused clients that send no Origin (apps, integrations). The consumers
decide instead, per socket kind, and close with 4403 after accepting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

SELF = "self"  # the site's own origin
NONE = "none"  # a client that sends no Origin header
ANY = "*"


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _host(scope: dict[str, Any]) -> str | None:
    """The Host the client asked for, when it is one of ALLOWED_HOSTS (as Django checks HTTP).

    Checking it keeps a DNS-rebinding page (Origin and Host both the attacker's name) out.
    """
    host = _header(scope, b"x-forwarded-host") if settings.USE_X_FORWARDED_HOST else None
    host = (host or _header(scope, b"host") or "").split(",")[0].strip().lower()
    domain, _ = split_domain_port(host)
    return host if domain and validate_host(domain, settings.ALLOWED_HOSTS) else None


def _same_site(origin: str, scope: dict[str, Any]) -> bool:
    host = _host(scope)
    return host is not None and urlsplit(origin).netloc.lower() == host


def _listed(origin: str, patterns: Iterable[str]) -> bool:
    """Whether ``origin`` matches one of ``patterns`` (``scheme://host[:port]``, ``*.`` allowed)."""
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc:
        return False
    for pattern in patterns:
        wanted = urlsplit(pattern)
        # "https://*.example.com" matches subdomains, as in CSRF_TRUSTED_ORIGINS.
        if wanted.scheme == parts.scheme and is_same_domain(
            parts.netloc.lower(), wanted.netloc.lower().lstrip("*")
        ):
            return True
    return False


def origin(scope: dict[str, Any]) -> str | None:
    """The handshake's Origin header (None when the client sent none)."""
    return _header(scope, b"origin")


def visitor_origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether a visitor socket from this origin is accepted (``CHATAPP_WS_VISITOR_ORIGINS``)."""
    allowed = [entry.strip() for entry in settings.CHATAPP_WS_VISITOR_ORIGINS if entry.strip()]
    seen = origin(scope)
    if seen is None:
        return NONE in allowed
    if ANY in allowed or (SELF in allowed and _same_site(seen, scope)):
        return True
    return _listed(seen, [entry for entry in allowed if "://" in entry])


def staff_origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether a staff socket (session cookie) from this origin is accepted.

    Only this site's pages and ``CSRF_TRUSTED_ORIGINS``, as for the session's HTTP writes: a
    cookie-authenticated socket from another page would be cross-site websocket hijacking.
    """
    seen = origin(scope)
    if seen is None:
        return False
    return _same_site(seen, scope) or _listed(seen, settings.CSRF_TRUSTED_ORIGINS)
