"""The admin dashboard: counts, recent turns, a turn's trace, and the knowledge-base pages."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from chatapp.accounts.decorators import admin_required
from chatapp.assistant import selectors
from chatapp.core.errors import NotFound
from chatapp.knowledge.selectors import admin as kb_selectors


@require_safe
@admin_required
def index(request: HttpRequest) -> HttpResponse:
    """Counters and the table of recent turns."""
    context = {
        "stats": selectors.dashboard_stats(),
        "turns": selectors.pipeline_run_list(),
    }
    return render(request, "dashboard/index.html", context)


@require_safe
@admin_required
def turn_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """One turn's trace, step by step, with each stage's input and output."""
    try:
        trace = selectors.pipeline_run_trace(run_id)
    except NotFound:
        raise Http404("No such turn.") from None
    return render(request, "dashboard/turn.html", {"trace": trace})


@require_safe
@admin_required
@ensure_csrf_cookie  # the page writes through the JSON API, which checks the CSRF header
def knowledge_index(request: HttpRequest) -> HttpResponse:
    """The knowledge bases with their document counts, and a form to add one."""
    context = {"knowledge_bases": kb_selectors.knowledge_base_overview_list()}
    return render(request, "dashboard/knowledge.html", context)


@require_safe
@admin_required
@ensure_csrf_cookie
def knowledge_detail(request: HttpRequest, kb_id: int) -> HttpResponse:
    """One knowledge base: documents with live status, uploads, "try it" search, curated answers."""
    try:
        page = kb_selectors.knowledge_base_page(kb_id)
    except NotFound:
        raise Http404("No such knowledge base.") from None
    context = {"page": page, "upload_extensions": kb_selectors.UPLOAD_EXTENSIONS}
    return render(request, "dashboard/knowledge_detail.html", context)
