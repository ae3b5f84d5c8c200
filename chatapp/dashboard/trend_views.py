"""The dashboard's "over time" page: charts for a date range, and links to the CSV exports."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from chatapp.accounts.decorators import admin_required
from chatapp.core.errors import ApplicationError
from chatapp.dashboard.selectors import date_range_parse
from chatapp.dashboard.trends import trends_page


@require_safe
@admin_required
def trends(request: HttpRequest) -> HttpResponse:
    """Charts over ``?start=YYYY-MM-DD&end=YYYY-MM-DD`` (the last 14 days by default)."""
    try:
        period = date_range_parse(request.GET.get("start"), request.GET.get("end"))
    except ApplicationError as exc:
        # Show the form again with the reason, over the default range.
        context = {"page": trends_page(date_range_parse(None, None)), "error": exc.detail}
        return render(request, "dashboard/trends.html", context, status=400)
    return render(request, "dashboard/trends.html", {"page": trends_page(period)})
