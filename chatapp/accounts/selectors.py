"""Reads for users."""

from __future__ import annotations

from django.db.models import QuerySet

from chatapp.accounts.models import User


def agent_list() -> QuerySet[User]:
    """Active users who can take conversations (agents and admins), by username."""
    return User.objects.filter(
        is_active=True, role__in=[User.Role.AGENT, User.Role.ADMIN]
    ).order_by("username")
