"""Policy checks on answer sentences and injected instructions in passages (placeholder API)."""

from __future__ import annotations

from collections.abc import Sequence

from workers.inference.base import Passage

__all__ = ["find_injections", "policy_violation", "sanitize_passage"]


def find_injections(text: str) -> list[str]:
    """Sentences of ``text`` that are instructions aimed at the assistant (none detected yet)."""
    del text
    return []


def sanitize_passage(text: str) -> tuple[str, list[str]]:
    """``text`` without its injected sentences, and those sentences."""
    return text, find_injections(text)


def policy_violation(sentence: str, *, passages: Sequence[Passage], question: str) -> str | None:
    """The policy code that forbids showing ``sentence`` to a visitor, or None."""
    del sentence, passages, question
    return None
