"""Who calls the API: staff by API key or session (CSRF checked), visitors by conversation token.

Each class is a django-ninja auth callback, so the generated OpenAPI document names the schemes.
A callback returns who it found, or None to let the next one try; when every one of an
operation's callbacks returns None, ninja raises ``AuthenticationError`` (401, see
``chatapp.api.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from ninja.security import APIKeyCookie, APIKeyHeader, HttpBearer
from typing_extensions import override

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_authenticate
from chatapp.core.errors import ApplicationError
from chatapp.core.timing import timing_for

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ERR_CSRF = "CSRF check failed."


@dataclass(frozen=True)
class Visitor:
    """A caller without staff credentials; ``token`` is the conversation token they sent."""

    token: str

    def __bool__(self) -> bool:  # ninja treats a falsy result as "not authenticated"
        return True


def bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class ApiKey(HttpBearer):
    """An agent's or admin's API key (``manage.py create_api_key USER --role ...``)."""

    @override
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        with timing_for(request).step("auth"):
            return api_key_authenticate(token.strip())


class StaffSession(APIKeyCookie):
    """A logged-in agent's or admin's session (the console); unsafe methods need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    @override
    def __call__(self, request: HttpRequest) -> User | None:
        user = getattr(request, "user", None)
        if not (isinstance(user, User) and user.is_authenticated and user.is_staff_member):
            return None
        if request.method not in SAFE_METHODS:
            failure = CsrfViewMiddleware(_empty).process_view(request, _empty, (), {})
            if failure is not None:
                raise ApplicationError("csrf_failed", ERR_CSRF, status=403)
        return user

    @override
    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        return None  # __call__ decides from request.user, which the session middleware set


class ConversationToken(APIKeyHeader):
    """A visitor: the conversation token (this header, ``?token=`` or a bearer), or none yet.

    Always lets the request through: the operation checks the token against the conversation it
    names (opening a conversation needs none).
    """

    param_name = "X-Conversation-Token"

    @override
    def __call__(self, request: HttpRequest) -> Visitor:
        token = (
            request.headers.get(self.param_name)
            or request.GET.get("token")
            or bearer_token(request)
            or ""
        )
        return Visitor(token)

    @override
    def authenticate(self, request: HttpRequest, key: str | None) -> Visitor:
        return Visitor(key or "")


def _empty(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


STAFF = [ApiKey(), StaffSession()]
ANYONE = [ApiKey(), StaffSession(), ConversationToken()]


def staff_of(request: HttpRequest) -> User:
    """The staff member an operation with ``auth=STAFF`` runs for."""
    user = getattr(request, "auth", None)
    if not isinstance(user, User):  # the auth callbacks let no one else through
        raise ApplicationError("unauthenticated", "Staff only.", status=401)
    return user


def staff_or_none(request: HttpRequest) -> User | None:
    """The staff member behind an ``auth=ANYONE`` request, or None for a visitor."""
    user = getattr(request, "auth", None)
    return user if isinstance(user, User) else None


def visitor_token(request: HttpRequest) -> str:
    auth = getattr(request, "auth", None)
    return auth.token if isinstance(auth, Visitor) else ""
