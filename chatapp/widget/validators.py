"""Origins as the widget setting stores and matches them (pure functions, no database)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

ERR_ORIGIN = (
    "Enter an origin like https://shop.example.com, http://127.0.0.1:8001 or "
    "https://*.example.com (scheme and host, no path)."
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# A host name label, an IPv4 address or a bracketed IPv6 address; "*." only in front.
_HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_IPV6 = re.compile(r"^\[[0-9a-f:.]+\]$")


def origin_normalize(value: str) -> str:
    """Return ``value`` as a browser writes an Origin header (``scheme://host[:port]``).

    Raises:
        ValidationError: not an http(s) origin (a path, query, user or bad host).
    """
    text = value.strip().lower().removesuffix("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValidationError(ERR_ORIGIN, code="invalid_origin") from None
    host = parts.hostname or ""
    if (
        parts.scheme not in _DEFAULT_PORTS
        or parts.path
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or not (_HOST.match(host) or _IPV6.match(f"[{host}]"))
    ):
        raise ValidationError(ERR_ORIGIN, code="invalid_origin")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and str(port) != _DEFAULT_PORTS[parts.scheme]:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}"


def origin_matches(origin: str, patterns: Iterable[str]) -> bool:
    """Whether a page's ``origin`` is one of ``patterns`` (normalised; ``*.`` for subdomains)."""
    try:
        seen = origin_normalize(origin)
    except ValidationError:
        return False
    scheme, _, netloc = seen.partition("://")
    for pattern in patterns:
        wanted_scheme, _, wanted = pattern.partition("://")
        if wanted_scheme != scheme:
            continue
        if netloc == wanted:
            return True
        # "*.example.com" is every subdomain (as in CSP), not example.com itself.
        if wanted.startswith("*.") and netloc.endswith(wanted[1:]):
            return True
    return False
