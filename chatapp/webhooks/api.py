"""REST views of webhooks (admins): endpoints, their deliveries, redelivery."""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest, JsonResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chatapp.accounts import permissions
from chatapp.api.http import api_view, parse_json
from chatapp.core.errors import ApplicationError
from chatapp.webhooks import selectors, services
from chatapp.webhooks.models import URL_MAX_CHARS, WebhookDelivery


def _no_nul(value: str) -> str:
    if "\x00" in value:  # Postgres text cannot hold it
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Text = Field(min_length=1, max_length=URL_MAX_CHARS)
    secret: Text = Field(min_length=1, max_length=200)
    events: list[str] = Field(min_length=1, max_length=20)
    description: Text = Field(default="", max_length=200)


def _may_manage(request: HttpRequest) -> None:
    permissions.require(permissions.Action.WEBHOOK_MANAGE, request.staff)  # type: ignore[attr-defined]  # set by api_view


@api_view(("GET", "POST"), auth="staff")
def webhook_collection(request: HttpRequest) -> JsonResponse:
    _may_manage(request)
    if request.method == "GET":
        endpoints = selectors.webhook_endpoint_list()
        return JsonResponse({"results": [selectors.endpoint_payload(e) for e in endpoints]})
    body = parse_json(request, WebhookCreate)
    endpoint = services.webhook_endpoint_create(
        url=body.url,
        secret=body.secret,
        events=body.events,
        description=body.description,
        by=request.staff,  # type: ignore[attr-defined]
    )
    return JsonResponse(selectors.endpoint_payload(endpoint), status=201)


@api_view(("GET", "DELETE"), auth="staff")
def webhook_detail(request: HttpRequest, webhook_id: int) -> JsonResponse:
    _may_manage(request)
    endpoint = selectors.webhook_endpoint_get(webhook_id)
    if request.method == "DELETE":
        services.webhook_endpoint_delete(endpoint=endpoint, by=request.staff)  # type: ignore[attr-defined]
        return JsonResponse({"id": webhook_id, "deleted": True})
    return JsonResponse(selectors.endpoint_payload(endpoint))


@api_view(("GET",), auth="staff")
def webhook_delivery_collection(request: HttpRequest, webhook_id: int) -> JsonResponse:
    _may_manage(request)
    status = request.GET.get("status") or None
    if status is not None and status not in WebhookDelivery.Status.values:
        raise ApplicationError(
            "invalid_request",
            "Unknown delivery status.",
            fields=[{"field": "status", "message": "one of: pending, succeeded, failed"}],
        )
    endpoint = selectors.webhook_endpoint_get(webhook_id)
    deliveries = selectors.webhook_delivery_list(endpoint=endpoint, status=status)
    return JsonResponse({"results": [selectors.delivery_payload(d) for d in deliveries]})


@api_view(("POST",), auth="staff")
def webhook_delivery_redeliver(request: HttpRequest, delivery_id: int) -> JsonResponse:
    _may_manage(request)
    delivery = selectors.webhook_delivery_get(delivery_id)
    again = services.webhook_delivery_redeliver(delivery=delivery, by=request.staff)  # type: ignore[attr-defined]
    return JsonResponse(selectors.delivery_payload(again), status=202)
