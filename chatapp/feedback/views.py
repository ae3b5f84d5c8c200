"""The admins' page of down-voted answers (the visitor's ratings are REST: ``feedback.api``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from chatapp.accounts.decorators import admin_required
from chatapp.feedback import selectors


@require_safe
@admin_required
def downvoted_answers(request: HttpRequest) -> HttpResponse:
    """Down-voted answers with question, comment, trace link and a curated-answer shortcut."""
    context = {"rows": selectors.downvoted_answer_list(), "csat": selectors.csat_summary()}
    return render(request, "feedback/downvoted.html", context)
