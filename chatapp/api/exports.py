"""CSV exports (admins): conversations and turns of a date range, streamed as they are read."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router

from chatapp.accounts import permissions
from chatapp.api import responses as out
from chatapp.api.security import STAFF, staff_of
from chatapp.dashboard import exports
from chatapp.dashboard.selectors import DateRange, date_range_parse

router = Router(tags=["exports"])
_CSV = {"text/csv": {"schema": {"type": "string"}}}


def _described(columns: str) -> dict[str, Any]:
    """The 200 of a CSV export (ninja describes JSON bodies only)."""
    return {
        "responses": {200: {"description": f"CSV, a header row then {columns}", "content": _CSV}}
    }


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _stream(rows: Iterable[list[Any]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _period(request: HttpRequest, start: str | None, end: str | None) -> DateRange:
    permissions.require(permissions.Action.EXPORT_READ, staff_of(request))
    # Exports take any range; the default is the dashboard's (the last 14 days).
    return date_range_parse(start, end, max_days=None)


@router.get(
    "/exports/conversations.csv",
    auth=STAFF,
    response=out.answers({200: None}),
    summary="Conversations of a date range (admins), start and end as YYYY-MM-DD",
    openapi_extra=_described("a conversation a row"),
)
def conversations_csv(
    request: HttpRequest, start: str | None = None, end: str | None = None
) -> StreamingHttpResponse:
    period = _period(request, start, end)
    name = f"conversations-{period.start}-{period.end}.csv"
    return _stream(exports.conversation_rows(period), name)


@router.get(
    "/exports/turns.csv",
    auth=STAFF,
    response=out.answers({200: None}),
    summary="Bot turns of a date range (admins), start and end as YYYY-MM-DD",
    openapi_extra=_described("a turn a row"),
)
def turns_csv(
    request: HttpRequest, start: str | None = None, end: str | None = None
) -> StreamingHttpResponse:
    period = _period(request, start, end)
    return _stream(exports.turn_rows(period), f"turns-{period.start}-{period.end}.csv")
