"""deploy/: the systemd units and the example environment agree with the code they start."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from chatapp.core.health import QUEUES
from chatapp.serve import DEFAULT_SERVE_WORKERS
from chatapp.webhooks.services import WEBHOOK_QUEUE

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _required_env() -> set[str]:
    """``REQUIRED_ENV`` of the production settings, read without importing them (importing
    them without those variables raises, which is their point)."""
    tree = ast.parse((ROOT / "chatapp/config/settings/production.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "REQUIRED_ENV":
            return set(ast.literal_eval(node.value))
    raise AssertionError("REQUIRED_ENV not found")


def _exec_start(unit: str) -> str:
    text = (DEPLOY / unit).read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return " ".join(line.removeprefix("ExecStart=").split())


def test_the_target_starts_a_worker_for_every_queue_the_health_check_expects():
    # (and the webhooks queue, which /healthz leaves out: chat works while it is down)
    # given
    target = (DEPLOY / "chatapp.target").read_text()
    # when
    queues = set(re.findall(r"chatapp-worker@(\w+)\.service", target))
    # then
    assert queues == {*QUEUES, WEBHOOK_QUEUE}


def test_make_serve_starts_a_worker_for_every_queue_by_default():
    # when
    queues = {spec.split(":")[0] for spec in DEFAULT_SERVE_WORKERS.split(";")}
    # then
    assert queues == {*QUEUES, WEBHOOK_QUEUE}


def test_the_units_start_the_asgi_app_and_the_celery_app_that_exist():
    # given
    from chatapp.config import asgi, celery

    # when
    web = _exec_start("chatapp-web.service")
    worker = _exec_start("chatapp-worker@.service")
    beat = _exec_start("chatapp-beat.service")
    # then
    assert "uvicorn chatapp.config.asgi:application" in web
    assert callable(asgi.application)
    assert "--proxy-headers" in web
    assert "celery -A chatapp.config worker -Q %i -c 1" in worker
    assert "celery -A chatapp.config beat" in beat
    assert celery.app.main


def test_the_example_environment_names_what_production_requires():
    # given
    text = (DEPLOY / "chatapp.env.example").read_text()
    # when
    names = set(re.findall(r"^([A-Z_]+)=", text, flags=re.MULTILINE))
    # then
    assert _required_env() <= names
    assert "DJANGO_SETTINGS_MODULE=chatapp.config.settings.production" in text
