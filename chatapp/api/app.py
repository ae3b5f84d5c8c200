"""The REST API (django-ninja): its routers, auth, errors, and the generated OpenAPI document.

Served under ``/api/v1/``; the document at ``/api/v1/openapi.json`` and an interactive page at
``/api/v1/docs`` are generated from the operations and their pydantic schemas, so they cannot
drift from what the code accepts and answers. Prose and the websocket protocol: docs/api.md.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.operation import Operation
from ninja.parser import Parser
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder
from ninja.types import DictStrAny
from typing_extensions import override

from chatapp.api import errors
from chatapp.api.http import json_body
from chatapp.api.responses import HealthOut

PREFIX = "api/v1/"
DESCRIPTION = (
    "Customer-service chat over your own knowledge. Errors are "
    '`{"error": {"code", "detail", ...}}`; see docs/api.md for the websocket protocol, limits '
    "and examples."
)


class JsonParser(Parser):
    """JSON bodies only, with the API's own errors (415, ``invalid_json``)."""

    @override
    def parse_body(self, request: HttpRequest) -> DictStrAny:
        body: DictStrAny = json_body(request)
        return body


class Encoder(NinjaJSONEncoder):
    """Times with their full precision (ninja's default encoder cuts them to milliseconds)."""

    @override
    def default(self, o: Any) -> Any:
        if isinstance(o, datetime | time):
            return o.isoformat()
        return super().default(o)


class Renderer(JSONRenderer):
    encoder_class = Encoder


class ChatappAPI(NinjaAPI):
    @override
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # The view's name (unique across the API: build_api checks) reads better than ninja's
        # module-qualified default.
        return str(operation.view_func.__name__)

    @override
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: DictStrAny | None = None
    ) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        _add_health(schema)
        return schema


def _add_health(schema: Any) -> None:
    """``/healthz`` lives outside the API's prefix (probes call it bare); document it too."""
    out = HealthOut.model_json_schema(ref_template="#/components/schemas/{model}")
    schema["components"].setdefault("schemas", {})["HealthOut"] = out
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/HealthOut"}}}
    schema["paths"]["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "Database, broker and, per queue, a worker able to take tasks",
            "tags": ["health"],
            "responses": {
                "200": {"description": "Everything answers", "content": body},
                "503": {
                    "description": "Something is missing (named in `missing`)",
                    "content": body,
                },
            },
        }
    }


def build_api() -> ChatappAPI:
    from chatapp.api import agents, conversations, copilot, exports, knowledge
    from chatapp.feedback.api import router as feedback_router
    from chatapp.replies.api import router as replies_router
    from chatapp.webhooks.api import router as webhooks_router

    api = ChatappAPI(
        title="chatapp API",
        version="1.0.0",
        description=DESCRIPTION,
        urls_namespace="api",
        parser=JsonParser(),
        renderer=Renderer(),
    )
    errors.register(api)
    routers = (
        conversations.router,
        copilot.router,
        knowledge.router,
        agents.router,
        exports.router,
        feedback_router,
        replies_router,
        webhooks_router,
    )
    for router in routers:
        api.add_router("", router)
    names = [
        op.view_func.__name__
        for r in routers
        for view in r.path_operations.values()
        for op in view.operations
    ]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ImproperlyConfigured(f"API operations share names: {sorted(duplicates)}")
    return api


api = build_api()
