"""Every API response the test suite sees is checked against the generated OpenAPI document.

``ContractMiddleware`` (added by the test settings) matches each ``/api/`` and ``/healthz``
response to its operation in the document the app serves, and checks that its status is one the
operation documents and that its JSON body validates against that status's schema. A mismatch
raises ``ContractViolation``: the Django test client re-raises it in the test that made the
request, and a live test server answers 500, which the end-to-end test then sees.

Each checked response is also recorded (operation and status, one JSON line per response in
``var/test/contract/``), so the end of the session can say which operations the suite exercised,
end-to-end servers included (``tests/conftest.py``).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

CHECKED_PREFIXES = ("/api/", "/healthz")
# The document itself and its page.
EXEMPT_PATHS = frozenset({"/api/v1/openapi.json", "/api/v1/docs"})
UNDOCUMENTED_PATH_STATUSES = frozenset({404})  # an unknown endpoint
UNDOCUMENTED_METHOD_STATUSES = frozenset({405})  # a known endpoint, another method
ERROR_REF = "#/components/schemas/ErrorOut"


class ContractViolation(AssertionError):
    """A response the generated OpenAPI document does not allow."""


@dataclass(frozen=True)
class Operation:
    path: str  # as documented, e.g. /api/v1/documents/{document_id}
    method: str
    spec: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return str(self.spec.get("operationId") or f"{self.method} {self.path}")


@cache
def spec() -> dict[str, Any]:
    """The document ``/api/v1/openapi.json`` serves (built in process, the same code)."""
    from chatapp.api.app import PREFIX, api

    document = api.get_openapi_schema(path_prefix="/" + PREFIX.rstrip("/"))
    # As served: through JSON (status keys become strings).
    return dict(json.loads(json.dumps(document, cls=DjangoJSONEncoder)))


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with a local ``$ref`` followed (``#/components/schemas/...``)."""
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


@cache
def _path_patterns() -> list[tuple[re.Pattern[str], str]]:
    patterns = []
    for path in spec()["paths"]:
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
        patterns.append((re.compile(f"^{regex}$"), path))
    return patterns


def _documented_path(path: str) -> str | None:
    for pattern, documented in _path_patterns():
        if pattern.match(path):
            return documented
    return None


@cache
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    # Refs point into the document's components: validate with them at the root.
    root = {**schema, "components": spec().get("components", {})}
    return jsonschema_rs.Draft202012Validator(root)


def _validate(schema: dict[str, Any], body: Any) -> list[str]:
    validator = _validator(json.dumps(schema, sort_keys=True))
    return [
        f"{'/'.join(map(str, e.instance_path)) or '(body)'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


def check(
    method: str, path: str, status: int, content_type: str, body: bytes | None
) -> tuple[str, list[str]]:
    """The operation a response answers, and what is wrong with it (empty when nothing is).

    Args:
        body: The raw body, or None when it cannot be read (streamed, HEAD).
    """
    documented = _documented_path(path)
    operation = None
    if documented is not None:
        operation = spec()["paths"][documented].get(method.lower())
    if operation is None:
        allowed = UNDOCUMENTED_PATH_STATUSES if documented is None else UNDOCUMENTED_METHOD_STATUSES
        name = f"{method} {documented or path} (undocumented)"
        if status not in allowed:
            return name, [f"{method} {path} is not documented, yet it answered {status}"]
        return name, _check_body({"$ref": ERROR_REF}, "application/json", content_type, body)
    op = Operation(documented or path, method, operation)
    responses = operation.get("responses", {})
    described = responses.get(str(status))
    if described is None:
        return op.operation_id, [
            f"{method} {path} answered {status}; documented: {', '.join(sorted(responses))}"
        ]
    content = described.get("content") or {}
    if not content:
        return op.operation_id, [] if not body else [f"{status} documents no body, one came"]
    media = content_type.split(";")[0].strip()
    if media not in content:
        return op.operation_id, [f"{status} is {media!r}; documented: {', '.join(content)}"]
    schema = content[media].get("schema")
    if schema is None or media != "application/json":
        return op.operation_id, []
    return op.operation_id, _check_body(schema, media, content_type, body)


def _check_body(
    schema: dict[str, Any], expected: str, content_type: str, body: bytes | None
) -> list[str]:
    if body is None:
        return []
    if not content_type.startswith(expected):
        return [f"the body is {content_type!r}, not {expected}"]
    try:
        data = json.loads(body)
    except ValueError:
        return ["the body is not JSON"]
    return _validate(schema, data)


_record_lock = threading.Lock()


def record_dir() -> Path:
    return Path(settings.VAR_DIR) / "contract"


def _record(method: str, operation: str, status: int) -> None:
    line = json.dumps({"operation": operation, "method": method, "status": status})
    folder = record_dir()
    with _record_lock:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{os.getpid()}.jsonl").open("a") as out:
            out.write(line + "\n")


def coverage() -> dict[str, set[int]]:
    """Each documented operation → the statuses the suite saw it answer (empty: never called)."""
    seen: dict[str, set[int]] = {}
    for path, methods in spec()["paths"].items():
        for method, operation in methods.items():
            seen[str(operation.get("operationId") or f"{method.upper()} {path}")] = set()
    folder = record_dir()
    for file in folder.glob("*.jsonl") if folder.is_dir() else []:
        for line in file.read_text().splitlines():
            row = json.loads(line)
            seen.setdefault(row["operation"], set()).add(int(row["status"]))
    return seen


class ContractMiddleware:
    """Checks every API response against the generated document (test settings only)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(CHECKED_PREFIXES) or request.path in EXEMPT_PATHS:
            return response
        readable = not isinstance(response, StreamingHttpResponse) and request.method != "HEAD"
        body = response.content if readable else None
        content_type = response.get("Content-Type", "")
        operation, problems = check(
            request.method or "GET", request.path, response.status_code, content_type, body
        )
        _record(request.method or "GET", operation, response.status_code)
        if problems:
            raise ContractViolation(
                f"{request.method} {request.path} → {response.status_code} breaks the OpenAPI "
                "document:\n  " + "\n  ".join(problems) + f"\nbody: {(body or b'')[:500]!r}"
            )
        return response
