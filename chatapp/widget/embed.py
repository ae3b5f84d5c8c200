"""What a host page asks of the widget: its data- attributes, checked (pure, no database).

The loader (``static/widget/widget.js``) checks them first and warns in the console; the frame
page checks them again, since anyone can open ``/widget/frame/?...`` by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.http import QueryDict

from chatapp.core.errors import ApplicationError

TITLE_MAX_CHARS = 80
KNOWLEDGE_BASES_MAX = 50  # as POST /api/v1/conversations (schemas.ConversationCreate)
_ACCENT = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_IDS = re.compile(r"^\d{1,18}(?:,\d{1,18})*$")
ERR_KB = "kb must be knowledge base ids separated by commas, e.g. 1,2 (at most 50)."
ERR_TITLE = f"title must be at most {TITLE_MAX_CHARS} characters."
ERR_ACCENT = "accent must be a colour like #7a4a1f or #36c."


@dataclass(frozen=True)
class EmbedOptions:
    knowledge_base_ids: list[int]
    title: str
    accent: str


def embed_options_parse(query: QueryDict) -> EmbedOptions:
    """The frame page's query string (``kb``, ``title``, ``accent``), all optional.

    Raises:
        ApplicationError: ``invalid_request`` (400) naming the bad field.
    """
    fields: list[dict[str, str]] = []
    kb = query.get("kb", "").replace(" ", "")
    ids = [int(part) for part in kb.split(",")] if kb and _IDS.match(kb) else []
    if kb and (not ids or len(ids) > KNOWLEDGE_BASES_MAX):
        fields.append({"field": "kb", "message": ERR_KB})
    title = query.get("title", "").strip()
    if len(title) > TITLE_MAX_CHARS:
        fields.append({"field": "title", "message": ERR_TITLE})
    accent = query.get("accent", "").strip()
    if accent and not _ACCENT.match(accent):
        fields.append({"field": "accent", "message": ERR_ACCENT})
    if fields:
        raise ApplicationError(
            "invalid_request", "The widget's options are not valid.", fields=fields
        )
    return EmbedOptions(knowledge_base_ids=ids, title=title, accent=accent.lower())
