"""CSV exports (admins): conversations and turns of a date range, streamed as they are read."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse

from chatapp.accounts import permissions
from chatapp.api.http import api_view
from chatapp.dashboard import exports
from chatapp.dashboard.selectors import DateRange, date_range_parse


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


def _period(request: HttpRequest) -> DateRange:
    permissions.require(permissions.Action.EXPORT_READ, request.staff)  # type: ignore[attr-defined]
    # Exports take any range; the default is the dashboard's (the last 14 days).
    return date_range_parse(request.GET.get("start"), request.GET.get("end"), max_days=None)


# The decorator passes a streaming response through as it is (its View type says HttpResponse).
@api_view(("GET",), auth="staff")  # type: ignore[arg-type]
def conversations_csv(request: HttpRequest) -> StreamingHttpResponse:
    period = _period(request)
    name = f"conversations-{period.start}-{period.end}.csv"
    return _stream(exports.conversation_rows(period), name)


@api_view(("GET",), auth="staff")  # type: ignore[arg-type]  # streaming, as above
def turns_csv(request: HttpRequest) -> StreamingHttpResponse:
    period = _period(request)
    return _stream(exports.turn_rows(period), f"turns-{period.start}-{period.end}.csv")
