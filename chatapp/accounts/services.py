"""Writes for users and API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from chatapp.accounts.models import ApiKey, User

API_KEY_PREFIX = "ck"
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)  # how stale ApiKey.last_used_at may be


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def user_ensure(*, username: str, role: str, password: str | None = None) -> User:
    """Create the user if missing; set its role (and password when given).

    Args:
        username: Login name.
        role: One of ``User.Role`` values.
        password: New password, or None to leave it (a new user without one cannot log in).

    Returns:
        The saved user.
    """
    user = User.objects.filter(username=username).first() or User(username=username)
    user.role = role
    user.is_staff = role == User.Role.ADMIN  # Django admin site access for admins only
    user.is_superuser = role == User.Role.ADMIN
    if password is not None:
        user.set_password(password)
    elif not user.password:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def api_key_create(*, user: User, name: str = "") -> str:
    """Create an API key for ``user`` and return the raw key (shown once, never stored).

    Returns:
        The key, ``ck_<prefix>_<secret>``.
    """
    prefix = secrets.token_hex(6)
    raw = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(user=user, name=name, prefix=prefix, key_hash=_hash(raw))
    key.full_clean()
    key.save()
    return raw


def api_key_authenticate(raw: str) -> User | None:
    """Return the active staff user owning ``raw``; None for an unknown/revoked/malformed key."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    key = ApiKey.objects.select_related("user").filter(prefix=parts[1], revoked_at=None).first()
    if key is None or not secrets.compare_digest(key.key_hash, _hash(raw)):
        return None
    if not key.user.is_active or not key.user.is_staff_member:
        return None
    now = timezone.now()
    # A write per request would cost more than the rest of a search; a minute is precise enough.
    if key.last_used_at is None or now - key.last_used_at >= API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key.user
