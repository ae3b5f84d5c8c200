"""Field validators shared by request schemas (REST bodies, import lines): bounded texts, URLs."""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlsplit

from django.conf import settings
from pydantic import AfterValidator

URL_MAX_CHARS: Final = 1000  # Document.source_url's column
WEB_SCHEMES: Final = frozenset({"http", "https"})
ERR_URL = "must be an http:// or https:// URL with a host"
ERR_MESSAGE_TOO_LONG = "must be at most {limit} characters"
ERR_DOCUMENT_TOO_LARGE = "must be at most {limit} bytes (UTF-8)"
ERR_UNSTORABLE = "must not contain NUL characters or lone surrogates"


def web_url(value: str) -> str:
    """An ``http``/``https`` URL with a host, or ``""``: a citation link a browser may open.

    Anything else (``javascript:``, ``data:``, ``file:``) would run or read something in the
    visitor's browser when clicked.
    """
    value = value.strip()
    if not value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError(ERR_URL) from None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        raise ValueError(ERR_URL)
    return value


def message_text(value: str) -> str:
    """A chat message or note: at most ``CHATAPP_MESSAGE_MAX_CHARS`` (read at each call)."""
    limit: int = settings.CHATAPP_MESSAGE_MAX_CHARS
    if len(value) > limit:
        raise ValueError(ERR_MESSAGE_TOO_LONG.format(limit=limit))
    return value


def document_text(value: str) -> str:
    """A document sent as JSON text: no larger than a file upload may be."""
    limit: int = settings.CHATAPP_UPLOAD_MAX_BYTES
    if len(value) > limit or len(value.encode()) > limit:
        raise ValueError(ERR_DOCUMENT_TOO_LARGE.format(limit=limit))
    return value


def storable_text(value: str) -> str:
    """Text Postgres can store: no NUL, no lone surrogate (both would fail as a 500 on save)."""
    if "\x00" in value:
        raise ValueError(ERR_UNSTORABLE)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(ERR_UNSTORABLE) from None
    return value


WebUrl = Annotated[str, AfterValidator(web_url)]
StorableText = Annotated[str, AfterValidator(storable_text)]
MessageText = Annotated[str, AfterValidator(message_text)]
DocumentText = Annotated[str, AfterValidator(document_text)]
