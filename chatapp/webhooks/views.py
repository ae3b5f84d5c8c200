"""The admins' webhook page in the dashboard: endpoints, recent deliveries, add, delete, redeliver.

Plain HTML forms (POST + CSRF, then a redirect), so the page works without scripts.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from chatapp.accounts.decorators import admin_required
from chatapp.core.errors import ApplicationError, NotFound
from chatapp.webhooks import selectors, services
from chatapp.webhooks.forms import EndpointForm


def _page(request: HttpRequest, form: EndpointForm, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "endpoints": selectors.webhook_endpoint_list(),
        "deliveries": selectors.webhook_delivery_list(),
    }
    return render(request, "dashboard/webhooks.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@admin_required
def webhook_index(request: HttpRequest) -> HttpResponse:
    """The endpoints and the 100 latest deliveries; POST registers an endpoint."""
    if request.method != "POST":
        return _page(request, EndpointForm())
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        services.webhook_endpoint_create(**form.cleaned_data, by=request.user)  # type: ignore[arg-type]  # admin_required: a User
    except ApplicationError as exc:
        for field in exc.extra.get("fields", []):
            form.add_error(
                field["field"] if field["field"] in form.fields else None, field["message"]
            )
        return _page(request, form, status=400)
    messages.success(request, "Endpoint added.")
    return redirect("dashboard:webhooks")


@require_POST
@admin_required
def webhook_delete(request: HttpRequest, webhook_id: int) -> HttpResponse:
    try:
        endpoint = selectors.webhook_endpoint_get(webhook_id)
    except NotFound:
        raise Http404("No such endpoint.") from None
    services.webhook_endpoint_delete(endpoint=endpoint, by=request.user)  # type: ignore[arg-type]  # admin_required: a User
    messages.success(request, f"Endpoint {endpoint.url} deleted.")
    return redirect("dashboard:webhooks")


@require_POST
@admin_required
def webhook_redeliver(request: HttpRequest, delivery_id: int) -> HttpResponse:
    try:
        delivery = selectors.webhook_delivery_get(delivery_id)
    except NotFound:
        raise Http404("No such delivery.") from None
    again = services.webhook_delivery_redeliver(delivery=delivery, by=request.user)  # type: ignore[arg-type]  # admin_required: a User
    messages.success(request, f"Delivery {delivery.pk} queued again as {again.pk}.")
    return redirect("dashboard:webhooks")
