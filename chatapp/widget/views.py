"""The embeddable widget: the loader script, its origin check, the chat frame, the admin page."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

from django.contrib import messages
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_POST, require_safe

from chatapp.accounts.decorators import admin_required
from chatapp.api.http import error_response
from chatapp.core.errors import ApplicationError
from chatapp.widget import selectors, services
from chatapp.widget.embed import embed_options_parse
from chatapp.widget.forms import WidgetOriginForm

LOADER_PATH = "widget/widget.js"
# Host pages fetch the loader on every page view; a short lifetime keeps an update quick to
# reach them (the file is not content-hashed: its URL is pasted into customers' pages).
LOADER_MAX_AGE_S = 300
ERR_ORIGIN = "This page's origin may not embed the chat; an admin allows it in /dashboard/widget/."
STORAGE_KEY = "chatapp.widget.conversation"  # apart from the full page's conversation


@functools.lru_cache(maxsize=4)
def _loader(path: str, mtime: float) -> tuple[bytes, bytes]:
    """The loader as is and gzipped, read once per file version."""
    raw = Path(path).read_bytes()
    return raw, gzip.compress(raw, compresslevel=9, mtime=0)


@require_safe
def loader(request: HttpRequest) -> HttpResponse:
    """``/widget.js``: the script host pages include (gzipped when the client accepts it)."""
    path = finders.find(LOADER_PATH)
    if not isinstance(path, str):
        raise FileNotFoundError(LOADER_PATH)
    raw, packed = _loader(path, Path(path).stat().st_mtime)
    gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
    response = HttpResponse(
        packed if gzipped else raw, content_type="text/javascript; charset=utf-8"
    )
    if gzipped:
        response["Content-Encoding"] = "gzip"
    response["Vary"] = "Accept-Encoding"
    response["Cache-Control"] = f"public, max-age={LOADER_MAX_AGE_S}"
    # Host pages that isolate themselves (COEP require-corp) may still load it.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@require_safe
@never_cache
def config(request: HttpRequest) -> JsonResponse:
    """``/widget/config``: whether the calling page's origin may mount the widget.

    Called by the loader with ``fetch`` (so the browser, not the page, sets Origin). The answer
    is readable by any origin, so a refused page can say why in its console.
    """
    origin = request.headers.get("Origin")
    if selectors.widget_origin_allowed(origin):
        response = JsonResponse({"allowed": True})
    else:
        response = error_response("origin_not_allowed", ERR_ORIGIN, 403)
    if origin:
        response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response


@require_safe
@xframe_options_exempt  # frame-ancestors below decides who may frame it
def frame(request: HttpRequest) -> HttpResponse:
    """``/widget/frame/``: the chat page, compact, to be framed by an allowed host page."""
    try:
        options = embed_options_parse(request.GET)
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    context = {
        "options": options,
        "chat_options": {
            "storage_key": STORAGE_KEY,
            "knowledge_base_ids": options.knowledge_base_ids,
            "accent": options.accent,
        },
    }
    response = render(request, "widget/frame.html", context)
    # Read by csp.middleware.CSPMiddleware: only the allowed host pages may frame the chat.
    response._csp_replace = {  # type: ignore[attr-defined]  # django-csp's per-response hook
        "frame-ancestors": selectors.widget_origin_patterns() or ["'none'"]
    }
    return response


@admin_required
def settings_page(request: HttpRequest) -> HttpResponse:
    """``/dashboard/widget/``: the allowed origins, a form to add one, and the snippet to paste."""
    form = WidgetOriginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.widget_origin_create(
                form.cleaned_data["origin"], note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            form.add_error("origin", exc)
        except ApplicationError as exc:
            form.add_error("origin", exc.detail)
        else:
            messages.success(request, f"{item.origin} may now embed the chat.")
            return redirect("widget:settings")
    status = 400 if form.errors else 200
    context = {
        "form": form,
        "origins": selectors.widget_origin_list(),
        "loader_url": request.build_absolute_uri("/widget.js"),
    }
    return render(request, "widget/settings.html", context, status=status)


@require_POST
@admin_required
def origin_delete(request: HttpRequest, origin_id: int) -> HttpResponse:
    """Stop allowing one origin."""
    try:
        services.widget_origin_delete(origin_id)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, "The origin was removed.")
    return redirect("widget:settings")
