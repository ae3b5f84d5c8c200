"""Every cell of the authorization matrix (docs/api.md "Authorization") over real HTTP.

Each route is called by each role: anonymous, the conversation's visitor, another conversation's
visitor, an agent who does not hold the conversation, the agent holding it, and an admin; staff
once with an API key and once with a logged-in session (CSRF header and all). A refused call
must leave the database as it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create
from chatapp.assignment.models import AgentPresence
from chatapp.conversations.models import Conversation, Message, Note
from chatapp.conversations.services import (
    conversation_assign,
    conversation_close,
    visitor_message_create,
)
from chatapp.feedback.models import AnswerFeedback, ConversationRating
from chatapp.knowledge.models import CuratedAnswer, Document, ImportJob, KnowledgeBase
from chatapp.replies.models import SavedReply
from chatapp.replies.services import saved_reply_create
from chatapp.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories.accounts import AdminFactory, AgentFactory
from tests.factories.conversations import make_conversation
from tests.factories.embedders import FakeEmbedder
from tests.factories.feedback import make_answer
from tests.factories.knowledge import DocumentFactory, KnowledgeBaseFactory

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "visitor", "other_visitor", "agent", "holder", "admin")
STAFF = ("agent", "holder", "admin")
DOCS = Path(__file__).resolve().parents[3] / "docs" / "api.md"


@dataclass
class World:
    conversation: Conversation
    token: str
    other_token: str
    users: dict[str, User]
    colleague: User
    public_kb: KnowledgeBase
    internal_kb: KnowledgeBase
    document: Document
    job: ImportJob
    curated: CuratedAnswer
    answer: Message
    saved_reply: SavedReply
    webhook: WebhookEndpoint
    delivery: WebhookDelivery


@dataclass(frozen=True)
class Route:
    doc_row: str  # the start of its row in docs/api.md
    method: str
    path: Callable[[World], str]
    expected: tuple[str, ...]  # per ROLES: "201", "403 forbidden", ...
    body: Callable[[World], Any] = lambda w: None
    content_type: str = "application/json"
    # Puts the world in the state the route needs (e.g. a closed conversation), before the call.
    prepare: Callable[[World], None] = lambda w: None


def _conv(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"/api/v1/conversations/{w.conversation.pk}{suffix}"


def _kb(suffix: str) -> Callable[[World], str]:
    return lambda w: f"/api/v1/knowledge-bases/{w.internal_kb.pk}{suffix}"


VISITORS_401 = ("401 unauthenticated",) * 3
KNOWLEDGE_READ = (*VISITORS_401, "200", "200", "200")
VISITOR_ONLY = (
    "401 unauthenticated",
    "201",
    "401 unauthenticated",
    *("403 forbidden",) * 3,
)
ADMIN_WRITES = (*VISITORS_401, "403 forbidden", "403 forbidden")


def _close(w: World) -> None:
    conversation_close(conversation=w.conversation, by=w.users["holder"])


ADMIN_ONLY = (*VISITORS_401, "403 forbidden", "403 forbidden")

ROUTES = {
    "create-default": Route(
        "`POST /api/v1/conversations` `{}`",
        "POST",
        lambda w: "/api/v1/conversations",
        ("201",) * 6,
        body=lambda w: {},
    ),
    "create-public": Route(
        "`POST /api/v1/conversations` naming a public",
        "POST",
        lambda w: "/api/v1/conversations",
        ("201",) * 6,
        body=lambda w: {"knowledge_base_ids": [w.public_kb.pk]},
    ),
    "create-internal": Route(
        "`POST /api/v1/conversations` naming an internal",
        "POST",
        lambda w: "/api/v1/conversations",
        ("403 forbidden",) * 3 + ("201",) * 3,
        body=lambda w: {"knowledge_base_ids": [w.public_kb.pk, w.internal_kb.pk]},
    ),
    "create-unknown": Route(
        "`POST /api/v1/conversations` naming an id that does not exist",
        "POST",
        lambda w: "/api/v1/conversations",
        ("403 forbidden",) * 3 + ("400 unknown_knowledge_base",) * 3,
        body=lambda w: {"knowledge_base_ids": [w.internal_kb.pk + 1000]},
    ),
    "read": Route(
        "`GET /api/v1/conversations/<id>`",
        "GET",
        _conv(),
        ("401 unauthenticated", "200", "401 unauthenticated", "200", "200", "200"),
    ),
    "claim": Route(
        "`POST …/<id>/assign` `{}` (claim)",
        "POST",
        _conv("/assign"),
        (*VISITORS_401, "409 already_assigned", "200", "200"),
        body=lambda w: {},
    ),
    "transfer": Route(
        '`POST …/<id>/assign` `{"agent_id"}` (transfer)',
        "POST",
        _conv("/assign"),
        (*VISITORS_401, "403 forbidden", "200", "200"),
        body=lambda w: {"agent_id": w.colleague.pk},
    ),
    "release": Route(
        "`POST …/<id>/release`",
        "POST",
        _conv("/release"),
        (*VISITORS_401, "403 forbidden", "200", "200"),
    ),
    "close": Route(
        "`POST …/<id>/close`",
        "POST",
        _conv("/close"),
        (*VISITORS_401, "403 forbidden", "200", "200"),
    ),
    "reply": Route(
        "`POST …/<id>/messages`",
        "POST",
        _conv("/messages"),
        (*VISITORS_401, "409 not_assignee", "201", "409 not_assignee"),
        body=lambda w: {"text": "Hello from the team."},
    ),
    "note": Route(
        "`POST …/<id>/notes`",
        "POST",
        _conv("/notes"),
        (*VISITORS_401, "201", "201", "201"),
        body=lambda w: {"text": "Internal note."},
    ),
    "copilot": Route(
        "`POST …/<id>/copilot`",
        "POST",
        _conv("/copilot"),
        (*VISITORS_401, "403 forbidden", "202", "202"),
        body=lambda w: {},
    ),
    "copilot-read": Route(
        "`GET …/<id>/copilot`",
        "GET",
        _conv("/copilot"),
        (*VISITORS_401, "403 forbidden", "200", "200"),
    ),
    "kb-list": Route(
        "`GET /api/v1/knowledge-bases`", "GET", lambda w: "/api/v1/knowledge-bases", KNOWLEDGE_READ
    ),
    "kb-create": Route(
        "`POST /api/v1/knowledge-bases`",
        "POST",
        lambda w: "/api/v1/knowledge-bases",
        (*VISITORS_401, "403 forbidden", "403 forbidden", "201"),
        body=lambda w: {"name": "New KB", "visibility": "public"},
    ),
    "doc-list": Route(
        "`GET …/knowledge-bases/<id>/documents`", "GET", _kb("/documents"), KNOWLEDGE_READ
    ),
    "doc-read": Route(
        "`GET …/knowledge-bases/<id>/documents`",
        "GET",
        lambda w: f"/api/v1/documents/{w.document.pk}",
        KNOWLEDGE_READ,
    ),
    "doc-upload": Route(
        "`POST …/knowledge-bases/<id>/documents`",
        "POST",
        _kb("/documents"),
        (*VISITORS_401, "403 forbidden", "403 forbidden", "202"),
        body=lambda w: {"title": "Returns", "text": "# Returns\n\nWithin 30 days."},
    ),
    "doc-replace": Route(
        "`POST …/knowledge-bases/<id>/documents`",
        "POST",
        _kb("/documents"),
        (*VISITORS_401, "403 forbidden", "403 forbidden", "202"),
        body=lambda w: {"title": w.document.title, "text": "# Changed\n\nNew text."},
    ),
    "doc-delete": Route(
        "`DELETE /api/v1/documents/<id>`",
        "DELETE",
        lambda w: f"/api/v1/documents/{w.document.pk}",
        (*VISITORS_401, "403 forbidden", "403 forbidden", "200"),
    ),
    "doc-retry": Route(
        "`POST /api/v1/documents/<id>/retry`",
        "POST",
        lambda w: f"/api/v1/documents/{w.document.pk}/retry",
        (*VISITORS_401, "403 forbidden", "403 forbidden", "202"),
    ),
    "search": Route(
        "`POST …/knowledge-bases/<id>/search`",
        "POST",
        _kb("/search"),
        KNOWLEDGE_READ,
        body=lambda w: {"query": "refunds"},
    ),
    "import-list": Route(
        "`GET …/knowledge-bases/<id>/imports`", "GET", _kb("/imports"), KNOWLEDGE_READ
    ),
    "import-read": Route(
        "`GET …/knowledge-bases/<id>/imports`",
        "GET",
        lambda w: f"/api/v1/imports/{w.job.pk}",
        KNOWLEDGE_READ,
    ),
    "import-create": Route(
        "`POST …/knowledge-bases/<id>/imports`",
        "POST",
        _kb("/imports"),
        (*VISITORS_401, "403 forbidden", "403 forbidden", "202"),
        body=lambda w: '{"title": "A", "text": "Alpha."}\n{"title": "B", "text": "Beta."}\n',
        content_type="application/x-ndjson",
    ),
    "reindex": Route(
        "`POST …/knowledge-bases/<id>/reindex`",
        "POST",
        _kb("/reindex"),
        (*VISITORS_401, "403 forbidden", "403 forbidden", "202"),
    ),
    "curated-list": Route(
        "`GET …/knowledge-bases/<id>/curated-answers`",
        "GET",
        _kb("/curated-answers"),
        KNOWLEDGE_READ,
    ),
    "curated-create": Route(
        "`POST …/knowledge-bases/<id>/curated-answers`",
        "POST",
        _kb("/curated-answers"),
        (*VISITORS_401, "403 forbidden", "403 forbidden", "201"),
        body=lambda w: {"question": "Do you gift wrap?", "answer": "Yes, for 3 EUR."},
    ),
    "presence": Route(
        "`PUT /api/v1/agents/me/presence`",
        "PUT",
        lambda w: "/api/v1/agents/me/presence",
        (*VISITORS_401, "200", "200", "200"),
        body=lambda w: {"status": "away"},
    ),
    "heartbeat": Route(
        "`POST /api/v1/agents/me/heartbeat`",
        "POST",
        lambda w: "/api/v1/agents/me/heartbeat",
        (*VISITORS_401, "200", "200", "200"),
    ),
    "agents": Route("`GET /api/v1/agents`", "GET", lambda w: "/api/v1/agents", KNOWLEDGE_READ),
    "capacity": Route(
        "`PUT /api/v1/agents/<id>/capacity`",
        "PUT",
        lambda w: f"/api/v1/agents/{w.colleague.pk}/capacity",
        (*VISITORS_401, "403 forbidden", "403 forbidden", "200"),
        body=lambda w: {"capacity": 3},
    ),
    "export-conversations": Route(
        "`GET /api/v1/exports/conversations.csv`",
        "GET",
        lambda w: "/api/v1/exports/conversations.csv",
        (*VISITORS_401, "403 forbidden", "403 forbidden", "200"),
    ),
    "export-turns": Route(
        "`GET /api/v1/exports/turns.csv`",
        "GET",
        lambda w: "/api/v1/exports/turns.csv",
        (*VISITORS_401, "403 forbidden", "403 forbidden", "200"),
    ),
    "curated-delete": Route(
        "`DELETE /api/v1/curated-answers/<id>`",
        "DELETE",
        lambda w: f"/api/v1/curated-answers/{w.curated.pk}",
        (*VISITORS_401, "403 forbidden", "403 forbidden", "200"),
    ),
    "answer-feedback": Route(
        "`POST /api/v1/conversations/<id>/messages/<message_id>/feedback`",
        "POST",
        lambda w: f"/api/v1/conversations/{w.conversation.pk}/messages/{w.answer.pk}/feedback",
        VISITOR_ONLY,
        body=lambda w: {"rating": "down", "comment": "Not helpful."},
    ),
    "csat": Route(
        "`POST /api/v1/conversations/<id>/csat`",
        "POST",
        _conv("/csat"),
        VISITOR_ONLY,
        body=lambda w: {"score": 4},
        prepare=_close,
    ),
    "saved-reply-list": Route(
        "`GET /api/v1/saved-replies`",
        "GET",
        lambda w: f"/api/v1/saved-replies?conversation_id={w.conversation.pk}",
        KNOWLEDGE_READ,
    ),
    "saved-reply-create": Route(
        "`POST /api/v1/saved-replies`",
        "POST",
        lambda w: "/api/v1/saved-replies",
        (*ADMIN_WRITES, "201"),
        body=lambda w: {"shortcut": "hello", "title": "Hello", "body": "Hi {visitor_name}!"},
    ),
    "saved-reply-read": Route(
        "`GET /api/v1/saved-replies/<id>`",
        "GET",
        lambda w: f"/api/v1/saved-replies/{w.saved_reply.pk}",
        KNOWLEDGE_READ,
    ),
    "saved-reply-update": Route(
        "`PATCH /api/v1/saved-replies/<id>`",
        "PATCH",
        lambda w: f"/api/v1/saved-replies/{w.saved_reply.pk}",
        (*ADMIN_WRITES, "200"),
        body=lambda w: {"title": "Refunds, in short"},
    ),
    "saved-reply-delete": Route(
        "`DELETE /api/v1/saved-replies/<id>`",
        "DELETE",
        lambda w: f"/api/v1/saved-replies/{w.saved_reply.pk}",
        (*ADMIN_WRITES, "200"),
    ),
    "webhook-list": Route(
        "`GET /api/v1/webhooks`", "GET", lambda w: "/api/v1/webhooks", (*ADMIN_ONLY, "200")
    ),
    "webhook-read": Route(
        "`GET /api/v1/webhooks`",
        "GET",
        lambda w: f"/api/v1/webhooks/{w.webhook.pk}",
        (*ADMIN_ONLY, "200"),
    ),
    "webhook-deliveries": Route(
        "`GET /api/v1/webhooks`",
        "GET",
        lambda w: f"/api/v1/webhooks/{w.webhook.pk}/deliveries",
        (*ADMIN_ONLY, "200"),
    ),
    "webhook-create": Route(
        "`POST /api/v1/webhooks`",
        "POST",
        lambda w: "/api/v1/webhooks",
        (*ADMIN_ONLY, "201"),
        body=lambda w: {
            "url": "http://127.0.0.1:9/hook",
            "secret": "s3cret",
            "events": ["message.created"],
        },
    ),
    "webhook-delete": Route(
        "`DELETE /api/v1/webhooks/<id>`",
        "DELETE",
        lambda w: f"/api/v1/webhooks/{w.webhook.pk}",
        (*ADMIN_ONLY, "200"),
    ),
    "webhook-redeliver": Route(
        "`POST /api/v1/webhook-deliveries/<id>/redeliver`",
        "POST",
        lambda w: f"/api/v1/webhook-deliveries/{w.delivery.pk}/redeliver",
        (*ADMIN_ONLY, "202"),
    ),
}


@pytest.fixture
def world(monkeypatch, indexed_later) -> World:
    # The embedding model is not what these tests are about (search, curated answers).
    monkeypatch.setattr("chatapp.knowledge.embedding.embedder", FakeEmbedder)
    from chatapp.knowledge.curated import curated_answer_create
    from chatapp.knowledge.jobs import import_job_create
    from chatapp.webhooks.services import webhook_endpoint_create, webhook_event_emit

    # Deliveries are queued on commit; a refused call must not queue one either (none here).
    monkeypatch.setattr("chatapp.webhooks.services._dispatch", lambda ids, **kw: None)

    public_kb = KnowledgeBaseFactory.create(name="Help", visibility="public")
    internal_kb = KnowledgeBaseFactory.create(name="Runbooks", visibility="internal")
    holder = AgentFactory.create(username="holder")
    users = {"agent": AgentFactory.create(username="agent"), "holder": holder}
    users["admin"] = AdminFactory.create(username="admin")
    conversation, token = make_conversation()
    conversation_assign(conversation=conversation, agent=holder, by=holder)
    answer, _ = make_answer(conversation)
    # Something for a suggested reply (copilot) to answer.
    visitor_message_create(conversation=conversation, text="Ship abroad?", client_msg_id=None)
    _, other_token = make_conversation()
    webhook = webhook_endpoint_create(
        url="http://127.0.0.1:9/hook", secret="s", events=["feedback.created"], by=users["admin"]
    )
    [delivery_id] = webhook_event_emit("feedback.created", {"rating": 5})
    return World(
        conversation=conversation,
        token=token,
        other_token=other_token,
        users=users,
        colleague=AgentFactory.create(username="colleague"),
        public_kb=public_kb,
        internal_kb=internal_kb,
        document=DocumentFactory.create(
            knowledge_base=internal_kb, title="Refunds", status=Document.Status.FAILED
        ),
        job=import_job_create(knowledge_base=internal_kb, source="jsonl"),
        curated=curated_answer_create(
            knowledge_base=internal_kb,
            question="Do you ship abroad?",
            answer="Yes.",
            embedder=FakeEmbedder(),
        ),
        answer=answer,
        saved_reply=saved_reply_create(
            shortcut="refund", title="Refunds", body="Refunds take 5 days.", by=None
        ),
        webhook=webhook,
        delivery=WebhookDelivery.objects.get(pk=delivery_id),
    )


def _client(role: str, via: str, world: World) -> tuple[Client, dict[str, Any]]:
    if role in ("visitor", "other_visitor"):
        token = world.token if role == "visitor" else world.other_token
        return Client(), {"HTTP_X_CONVERSATION_TOKEN": token}
    if role == "anonymous":
        return Client(), {}
    user = world.users[role]
    if via == "key":
        return Client(), {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=user)}"}
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/console/")  # sets the csrftoken cookie, as the staff pages do
    return client, {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def _state(world: World) -> dict[str, Any]:
    """Everything a refused call must leave as it was."""
    conversation = Conversation.objects.get(pk=world.conversation.pk)
    return {
        "conversations": Conversation.objects.count(),
        "conversation": (conversation.status, conversation.assignee_id),
        "messages": Message.objects.count(),
        "notes": Note.objects.count(),
        "knowledge_bases": sorted(KnowledgeBase.objects.values_list("name", "visibility")),
        "documents": sorted(Document.objects.values_list("title", "status", "content_hash")),
        "jobs": ImportJob.objects.count(),
        "curated": CuratedAnswer.objects.count(),
        "feedback": sorted(AnswerFeedback.objects.values_list("rating", "comment")),
        "csat": sorted(ConversationRating.objects.values_list("score", "comment")),
        "saved_replies": sorted(SavedReply.objects.values_list("shortcut", "title", "body")),
        "presence": sorted(AgentPresence.objects.values_list("user_id", "status", "capacity")),
        "webhooks": sorted(WebhookEndpoint.objects.values_list("url", "is_active")),
        "deliveries": WebhookDelivery.objects.count(),
    }


CELLS = [
    pytest.param(name, role, via, id=f"{name}-{role}-{via}")
    for name in ROUTES
    for role in ROLES
    for via in (("key", "session") if role in STAFF else ("-",))
]


@pytest.mark.parametrize(("route_name", "role", "via"), CELLS)
def test_matrix_cell(world, route_name, role, via):
    # given
    route = ROUTES[route_name]
    route.prepare(world)
    client, headers = _client(role, via, world)
    expected = route.expected[ROLES.index(role)]
    status, _, code = expected.partition(" ")
    before = _state(world)
    body = route.body(world)
    data = body if isinstance(body, str) or body is None else json.dumps(body)
    # when
    response = client.generic(
        route.method, route.path(world), data or "", content_type=route.content_type, **headers
    )
    # then
    assert response.status_code == int(status), response.content
    if code:
        assert response.json()["error"]["code"] == code
        assert _state(world) == before  # refused: nothing changed


def test_an_anonymous_visitor_cannot_tell_internal_ids_from_unknown_ones(world):
    # when
    internal = Client().post(
        "/api/v1/conversations",
        {"knowledge_base_ids": [world.internal_kb.pk]},
        content_type="application/json",
    )
    unknown = Client().post(
        "/api/v1/conversations",
        {"knowledge_base_ids": [world.internal_kb.pk + 1000]},
        content_type="application/json",
    )
    # then
    assert internal.status_code == unknown.status_code == 403
    assert internal.content == unknown.content
    assert internal.json() == {
        "error": {"code": "forbidden", "detail": "You may not use these knowledge bases."}
    }


def test_an_anonymous_conversation_gets_only_the_public_default_knowledge_bases(world):
    # given: the internal one is a default too
    assert world.internal_kb.is_default
    # when
    response = Client().post("/api/v1/conversations", {}, content_type="application/json")
    # then
    conversation = Conversation.objects.get(pk=response.json()["id"])
    assert list(conversation.knowledge_bases.values_list("name", flat=True)) == ["Help"]


def _doc_rows() -> dict[str, list[str]]:
    """The Authorization table of docs/api.md: first cell -> the six role cells."""
    text = DOCS.read_text().split("## Authorization", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].startswith("`"):
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize("route_name", list(ROUTES))
def test_the_documented_matrix_says_what_the_tests_check(route_name):
    # given
    route = ROUTES[route_name]
    rows = [cells for head, cells in _doc_rows().items() if head.startswith(route.doc_row)]
    # then: one row, whose statuses are the ones tested (the first number of each cell)
    assert len(rows) == 1, route.doc_row
    documented = [re.search(r"\d{3}", cell) for cell in rows[0]]
    tested = [expected.split(" ")[0] for expected in route.expected]
    assert [m.group(0) if m else None for m in documented] == tested
