"""Channel-layer group names (ASCII, at most 100 characters)."""

from __future__ import annotations

DEFAULT_TEAM = "default"


def conversation_group(conversation_id: object) -> str:
    return f"conversation.{conversation_id}"


def conversation_staff_group(conversation_id: object) -> str:
    """Staff sockets of a conversation only (unreviewed drafts never reach visitors)."""
    return f"conversation.{conversation_id}.staff"


def agents_group(team: str = DEFAULT_TEAM) -> str:
    return f"agents.{team}"
