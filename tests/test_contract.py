"""The contract check itself: it must flag what the generated document does not allow."""

from __future__ import annotations

import json

from tests.contract import check

PATH = "/api/v1/documents/7"


def test_a_body_the_document_describes_passes() -> None:
    body = {"id": 7, "deleted": True}
    _, problems = check("DELETE", PATH, 200, "application/json", json.dumps(body).encode())
    assert problems == []


def test_an_undocumented_field_is_flagged() -> None:
    body = {"id": 7, "deleted": True, "extra": 1}
    _, problems = check("DELETE", PATH, 200, "application/json", json.dumps(body).encode())
    assert problems


def test_an_undocumented_status_is_flagged() -> None:
    _, problems = check("DELETE", PATH, 418, "application/json", b"{}")
    assert problems
    assert "418" in problems[0]


def test_an_error_body_must_have_the_error_shape() -> None:
    _, problems = check("DELETE", PATH, 404, "application/json", b'{"detail": "Not Found"}')
    assert problems


def test_an_unknown_endpoint_may_only_answer_404() -> None:
    good = b'{"error": {"code": "not_found", "detail": "No such endpoint."}}'
    assert check("GET", "/api/v1/nothing", 404, "application/json", good)[1] == []
    assert check("GET", "/api/v1/nothing", 200, "application/json", b"{}")[1]
