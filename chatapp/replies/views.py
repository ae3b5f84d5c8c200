"""The admins' saved-reply page (the REST operations: ``chatapp.replies.api``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from chatapp.accounts.decorators import admin_required
from chatapp.replies import selectors
from chatapp.replies.models import VARIABLES


@require_safe
@admin_required
def saved_reply_manage(request: HttpRequest) -> HttpResponse:
    """The admins' page: the team's saved replies, a form to add or edit one."""
    context = {"replies": selectors.saved_reply_list(), "variables": VARIABLES}
    return render(request, "replies/manage.html", context)
