"""Sending one webhook request: the signature, the address check (SSRF) and the HTTP POST."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings

ERR_SCHEME = "must be an http:// or https:// URL with a host"
ERR_CREDENTIALS = "must not hold a user name or password"
ERR_ADDRESS = (
    "resolves to a private, loopback or reserved address ({address}); allow it with "
    "CHATAPP_WEBHOOK_ALLOW_PRIVATE or CHATAPP_WEBHOOK_ALLOWED_NETWORKS"
)
ERR_RESOLVE = "cannot be resolved ({error})"
RESPONSE_PEEK_BYTES = 200  # kept as the attempt's error when the receiver refuses
USER_AGENT = "chatapp-webhooks/1"


class BlockedAddressError(ValueError):
    """The receiver's host is (or resolves to) an address webhooks may not reach."""


def signature(secret: str, timestamp: int, body: str) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"<timestamp>.<body>"`` with the endpoint's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(n, strict=False) for n in settings.CHATAPP_WEBHOOK_ALLOWED_NETWORKS
    ]


def address_allowed(address: str) -> bool:
    """Whether a request may go to ``address``: public, or private and allowed by the settings."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return True
    if ip.is_multicast or ip.is_unspecified:
        return False
    if settings.CHATAPP_WEBHOOK_ALLOW_PRIVATE:
        return True
    return any(ip in network for network in _allowed_networks())


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an endpoint, or None. Host names are checked when sending."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return ERR_SCHEME
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ERR_SCHEME
    if parts.username or parts.password:
        return ERR_CREDENTIALS
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None  # a name: resolved and checked at each attempt
    if not address_allowed(parts.hostname):
        return ERR_ADDRESS.format(address=parts.hostname)
    return None


def check_destination(url: str) -> None:
    """Resolve the URL's host and refuse it when any address is not allowed.

    Raises:
        BlockedAddressError: An address is private/reserved and not allowed, or none resolves.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise BlockedAddressError(ERR_RESOLVE.format(error=exc)) from None
    for info in infos:
        address = str(info[4][0])
        if not address_allowed(address):
            raise BlockedAddressError(ERR_ADDRESS.format(address=address))


@dataclass(frozen=True)
class AttemptOutcome:
    """What one POST gave: a status code, or an error (connection, timeout, blocked)."""

    ok: bool
    status_code: int | None
    error: str
    duration_ms: int
    permanent: bool = False  # no point retrying (a blocked address)


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    # One client per process (created after the fork): keep-alive connections to receivers.
    global _client
    if _client is None:
        _client = httpx.Client(follow_redirects=False, trust_env=False)
    return _client


def post(*, url: str, secret: str, event: str, event_id: str, body: str) -> AttemptOutcome:
    """POST the body, signed now, and report the outcome (2xx is success; redirects are not)."""
    started = time.monotonic()
    timestamp = int(time.time())
    try:
        check_destination(url)
    except BlockedAddressError as exc:
        return AttemptOutcome(False, None, f"blocked: {exc}", 0, permanent=True)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Chatapp-Event": event,
        "X-Chatapp-Delivery": event_id,
        "X-Chatapp-Timestamp": str(timestamp),
        "X-Chatapp-Signature": signature(secret, timestamp, body),
    }
    try:
        response = _http().post(
            url, content=body.encode(), headers=headers, timeout=settings.CHATAPP_WEBHOOK_TIMEOUT_S
        )
    except httpx.HTTPError as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        return AttemptOutcome(False, None, f"{type(exc).__name__}: {exc}"[:500], elapsed)
    elapsed = int((time.monotonic() - started) * 1000)
    if 200 <= response.status_code < 300:
        return AttemptOutcome(True, response.status_code, "", elapsed)
    peek = response.text[:RESPONSE_PEEK_BYTES]
    return AttemptOutcome(
        False, response.status_code, f"HTTP {response.status_code}: {peek}", elapsed
    )
