"""Rate limits in Redis, shared by the HTTP views and the websocket consumers.

A limit is a number of hits per window (``"10/m"``) on one key (an IP, a visitor token, a socket,
a staff member). Each key counts hits in a fixed window that starts at its first hit and lasts the
rate's period. One call checks several limits at once, all or nothing, in one Lua script: when
any of them is full, nothing is counted (a refused request costs the client no quota it could
use after the window) and the answer is the longest wait among the full ones.

Counters live in the app's Redis (``REDIS_URL``), so every web process and every socket of one
visitor share them. When Redis cannot be reached the request is let through and a warning is
logged: the channel layer and the broker need the same Redis, and refusing every visitor
because a counter is unavailable would turn a blip into an outage.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from dataclasses import dataclass
from typing import Any, Final

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from typing_extensions import override

from chatapp.core.errors import ApplicationError

logger = logging.getLogger(__name__)

KEY_PREFIX: Final = "chatapp:rl"
UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE_RE: Final = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
# A counter lookup must never hold a request for long: on a Redis that does not answer within
# this, the request goes through (see the module docstring).
REDIS_TIMEOUT_S: Final = 0.5
ERR_RATE = "a rate looks like 10/m, 5/10s or 100/h (hits per period), not {value!r}"
ERR_LIMITED = "Too many requests ({name}); try again in {retry_after} s."

# KEYS: one counter per limit. ARGV: per limit, its most hits then its window in ms.
# Returns {0, 0, 0} when every limit had room (all counted), else {1, the longest wait in ms,
# the 1-based index of the first full limit}.
_SCRIPT: Final = """
local wait = 0
local first = 0
for i, key in ipairs(KEYS) do
  local most = tonumber(ARGV[2 * i - 1])
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= most then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, ARGV[2 * i])
      ttl = tonumber(ARGV[2 * i])
    end
    if ttl > wait then wait = ttl end
    if first == 0 then first = i end
  end
end
if first > 0 then return {1, wait, first} end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[2 * i]) end
end
return {0, 0, 0}
"""


@dataclass(frozen=True)
class Rate:
    """``hits`` per ``period_s`` seconds; ``hits == 0`` turns the limit off."""

    hits: int
    period_s: int

    @classmethod
    def parse(cls, value: str) -> Rate:
        """Read ``"10/m"``, ``"5/10s"``, ``"100/h"``; ``""`` or ``"0/m"`` is no limit.

        Raises:
            ValueError: The text is not a rate.
        """
        if not value.strip():
            return cls(0, 1)
        match = RATE_RE.match(value)
        if match is None:
            raise ValueError(ERR_RATE.format(value=value))
        hits, count, unit = match.groups()
        period = int(count or 1) * UNITS[unit]
        if period <= 0:
            raise ValueError(ERR_RATE.format(value=value))
        return cls(int(hits), period)

    @override
    def __str__(self) -> str:
        return f"{self.hits}/{self.period_s}s"


@dataclass(frozen=True)
class Limit:
    """One limit to check: its name (a setting of ``CHATAPP_RATE_LIMITS``) and whose hits count."""

    name: str
    key: str

    @property
    def rate(self) -> Rate:
        return rate_for(self.name)


class RateLimited(ApplicationError):
    """Over a limit: HTTP 429 with ``retry_after`` seconds (and a ``Retry-After`` header)."""

    def __init__(self, name: str, retry_after: int) -> None:
        detail = ERR_LIMITED.format(name=name, retry_after=retry_after)
        super().__init__("rate_limited", detail, status=429, retry_after=retry_after)
        self.name = name
        self.retry_after = retry_after


def rate_for(name: str) -> Rate:
    """The configured rate of limit ``name`` (``settings.CHATAPP_RATE_LIMITS``)."""
    return Rate.parse(settings.CHATAPP_RATE_LIMITS.get(name, ""))


def key_digest(secret: str) -> str:
    """A short, stable stand-in for a secret (a visitor token) in a Redis key."""
    return hashlib.sha256(secret.encode()).hexdigest()[:24]


_client_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def _client() -> redis.Redis:
    url = settings.CHATAPP_RATE_LIMIT_REDIS_URL or settings.REDIS_URL
    with _client_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
            )
            _clients[url] = client
        return client


def rate_limit_hit(*limits: Limit) -> None:
    """Count one hit against every limit, or none when any of them is full.

    Limits whose rate is off (``0/…`` or unset) are skipped.

    Raises:
        RateLimited: A limit is full; ``retry_after`` is the longest wait among the full ones.
    """
    active = [(limit, limit.rate) for limit in limits]
    active = [(limit, rate) for limit, rate in active if rate.hits > 0]
    if not active:
        return
    keys = [f"{KEY_PREFIX}:{limit.name}:{limit.key}" for limit, _ in active]
    args: list[Any] = []
    for _, rate in active:
        args += [rate.hits, rate.period_s * 1000]
    try:
        reply: list[int] = _client().eval(_SCRIPT, len(keys), *keys, *args)  # type: ignore[assignment]  # the sync client's reply, typed for both clients
        refused, wait_ms, first = reply
    except redis.RedisError as exc:
        logger.warning("rate limits not checked (Redis: %s); letting the request through", exc)
        return
    if refused:
        # At least 1 s: a client told "retry in 0 s" would hammer the last milliseconds.
        wait_s = max(1, math.ceil(int(wait_ms) / 1000))
        raise RateLimited(active[int(first) - 1][0].name, wait_s)


# Sockets check their limits off the event loop: redis-py's client is blocking.
rate_limit_hit_async = sync_to_async(rate_limit_hit, thread_sensitive=False)


def rate_limit_reset(*limits: Limit) -> None:
    """Forget the counters of ``limits`` (tests, and an admin lifting a limit by hand)."""
    keys = [f"{KEY_PREFIX}:{limit.name}:{limit.key}" for limit in limits]
    if keys:
        _client().delete(*keys)


# --- Which limits an action counts against (names: settings.CHATAPP_RATE_LIMITS) ----------------


def api_request_limits(*, ip: str) -> tuple[Limit, ...]:
    return (Limit("api_ip", ip),)


def conversation_create_limits(*, ip: str) -> tuple[Limit, ...]:
    return (Limit("conversation_create_ip", ip),)


def visitor_message_limits(*, connection: str, token: str, ip: str) -> tuple[Limit, ...]:
    """A visitor's ``message.send``: per socket, per visitor token and per address."""
    return (
        Limit("message_connection", connection),
        Limit("message_token", key_digest(token)),
        Limit("message_ip", ip),
    )


def staff_message_limits(*, user_id: int) -> tuple[Limit, ...]:
    """A staff message or note, over REST or a socket."""
    return (Limit("message_staff", str(user_id)),)


def frame_limits(*, connection: str) -> tuple[Limit, ...]:
    return (Limit("frame_connection", connection),)


def upload_limits(*, user_id: int) -> tuple[Limit, ...]:
    """A document upload or a bulk import."""
    return (Limit("upload_user", str(user_id)),)


def feedback_limits(*, token: str, ip: str) -> tuple[Limit, ...]:
    """A visitor's rating (thumbs or CSAT): per visitor token and per address."""
    return (Limit("feedback_token", key_digest(token)), Limit("feedback_ip", ip))
