"""Errors raised when an uploaded document cannot be turned into text."""

from __future__ import annotations

from typing import Final

from typing_extensions import override  # typing.override arrives in Python 3.12

ERROR_CODES: Final = frozenset(
    {"empty", "too_large", "unsupported_type", "binary", "encrypted", "corrupt", "no_text"}
)


class DocumentError(Exception):
    """A document was refused; ``str(error)`` is a reason an admin can read.

    Attributes:
        code: Short slug naming the kind of refusal, one of ``ERROR_CODES``.
        detail: The human-readable reason.
    """

    code: str
    detail: str

    def __init__(self, code: str, detail: str) -> None:
        """Create the error.

        Args:
            code: One of ``ERROR_CODES``.
            detail: Reason shown to admins, e.g. "the PDF is password-protected".

        Raises:
            ValueError: If ``code`` is not a known code (a programming error).
        """
        if code not in ERROR_CODES:
            raise ValueError(f"unknown document error code: {code!r}")
        super().__init__(detail)
        self.code = code
        self.detail = detail

    @override
    def __reduce__(self) -> tuple[type[DocumentError], tuple[str, str]]:
        """Keep both arguments when pickled (Celery sends exceptions across processes)."""
        return (type(self), (self.code, self.detail))
