"""Errors that services raise and interfaces (views, consumers) turn into responses."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A refusal with a stable code, a readable detail and an HTTP status.

    Args:
        code: Short machine-readable slug, e.g. ``"not_found"``.
        detail: Sentence for people.
        status: HTTP status an API view answers with.
        extra: Optional fields merged into the error body.
    """

    def __init__(self, code: str, detail: str, *, status: int = 400, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        """Return the public error body, ``{"error": {"code", "detail", ...}}``."""
        return {"error": {"code": self.code, "detail": self.detail, **self.extra}}


class NotFound(ApplicationError):
    def __init__(self, detail: str = "Not found.") -> None:
        super().__init__("not_found", detail, status=404)


class PermissionDenied(ApplicationError):
    def __init__(self, detail: str = "You may not do that.") -> None:
        super().__init__("forbidden", detail, status=403)


class Conflict(ApplicationError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail, status=409)
