"""REST operations of webhooks (admins): endpoints, their deliveries, redelivery."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Router, Status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chatapp.accounts import permissions
from chatapp.api.responses import Deleted, answers
from chatapp.api.security import STAFF, staff_of
from chatapp.webhooks import selectors, services
from chatapp.webhooks.events import EVENT_NAMES
from chatapp.webhooks.models import URL_MAX_CHARS

router = Router(tags=["webhooks"])
ITEM = "/webhooks/{int:webhook_id}"


def _no_nul(value: str) -> str:
    if "\x00" in value:  # Postgres text cannot hold it
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
DeliveryStatus = Literal["pending", "succeeded", "failed"]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Text = Field(min_length=1, max_length=URL_MAX_CHARS)
    secret: Text = Field(min_length=1, max_length=200)
    events: list[str] = Field(
        min_length=1, max_length=20, description=f"Any of: {', '.join(EVENT_NAMES)}"
    )
    description: Text = Field(default="", max_length=200)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeliveryCounts(Out):
    pending: int
    succeeded: int
    failed: int


class WebhookOut(Out):
    """An endpoint, without its secret."""

    id: int
    url: str
    events: list[str]
    description: str
    is_active: bool
    created_at: datetime
    deliveries: DeliveryCounts | None = Field(default=None, description="In the list only")


class WebhookList(Out):
    results: list[WebhookOut]


class DeliveryOut(Out):
    id: int
    endpoint_id: int
    event: str
    event_id: str
    status: DeliveryStatus
    attempts: int
    response_code: int | None
    error: str
    duration_ms: int | None
    created_at: datetime | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(description="While pending")
    delivered_at: datetime | None
    redelivery_of: int | None


class DeliveryList(Out):
    results: list[DeliveryOut]


def _may_manage(request: HttpRequest) -> None:
    permissions.require(permissions.Action.WEBHOOK_MANAGE, staff_of(request))


@router.get(
    "/webhooks",
    auth=STAFF,
    response=answers({200: WebhookList}),
    exclude_unset=True,
    summary="The webhook endpoints with their delivery counts (admins; never their secrets)",
)
def webhook_list(request: HttpRequest) -> Any:
    _may_manage(request)
    endpoints = selectors.webhook_endpoint_list()
    return {"results": [selectors.endpoint_payload(e) for e in endpoints]}


@router.post(
    "/webhooks",
    auth=STAFF,
    response=answers({201: WebhookOut}, 415),
    exclude_unset=True,
    summary="Register a webhook endpoint (admins)",
)
def webhook_create(request: HttpRequest, body: WebhookCreate) -> Status[Any]:
    _may_manage(request)
    endpoint = services.webhook_endpoint_create(
        url=body.url,
        secret=body.secret,
        events=body.events,
        description=body.description,
        by=staff_of(request),
    )
    return Status(201, selectors.endpoint_payload(endpoint))


@router.get(
    ITEM,
    auth=STAFF,
    response=answers({200: WebhookOut}),
    exclude_unset=True,
    summary="One webhook endpoint (admins)",
)
def webhook_detail(request: HttpRequest, webhook_id: int) -> Any:
    _may_manage(request)
    return selectors.endpoint_payload(selectors.webhook_endpoint_get(webhook_id))


@router.delete(
    ITEM,
    auth=STAFF,
    response=answers({200: Deleted}),
    summary="Delete a webhook endpoint and its deliveries (admins)",
)
def webhook_delete(request: HttpRequest, webhook_id: int) -> Deleted:
    _may_manage(request)
    endpoint = selectors.webhook_endpoint_get(webhook_id)
    services.webhook_endpoint_delete(endpoint=endpoint, by=staff_of(request))
    return Deleted(id=webhook_id, deleted=True)


@router.get(
    f"{ITEM}/deliveries",
    auth=STAFF,
    response=answers({200: DeliveryList}),
    summary="The endpoint's 100 most recent deliveries, newest first (admins)",
)
def webhook_delivery_list(
    request: HttpRequest, webhook_id: int, status: DeliveryStatus | None = None
) -> Any:
    _may_manage(request)
    endpoint = selectors.webhook_endpoint_get(webhook_id)
    deliveries = selectors.webhook_delivery_list(endpoint=endpoint, status=status)
    return {"results": [selectors.delivery_payload(d) for d in deliveries]}


@router.post(
    "/webhook-deliveries/{int:delivery_id}/redeliver",
    auth=STAFF,
    response=answers({202: DeliveryOut}),
    summary="Send a delivery's event again, as a new delivery (admins)",
)
def webhook_delivery_redeliver(request: HttpRequest, delivery_id: int) -> Status[Any]:
    _may_manage(request)
    delivery = selectors.webhook_delivery_get(delivery_id)
    again = services.webhook_delivery_redeliver(delivery=delivery, by=staff_of(request))
    return Status(202, selectors.delivery_payload(again))
