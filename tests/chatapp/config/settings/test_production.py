"""The production settings, each run in a fresh interpreter (settings load once per process).

The services are real: the test session's Postgres (pgvector) and Redis, reached by URL as any
external server would be.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[4]
# Copies of production.py's constants: importing that module here would run its checks.
REQUIRED_ENV = ("DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_ALLOWED_HOSTS")
DEV_KEY_MESSAGE = "DJANGO_SECRET_KEY is the public development key: set a long random one."
SECRET = "prod-test-" + "k7Qz" * 12
# What an operator sets; the URLs are filled in from the test session's servers.
REQUIRED = {
    "DJANGO_SECRET_KEY": SECRET,
    "DATABASE_URL": "",
    "REDIS_URL": "",
    "DJANGO_ALLOWED_HOSTS": "chat.example.com",
}
# Requests through Django's test client with the production settings; prints what it saw.
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client

client = Client()
host = {"HTTP_HOST": "chat.example.com"}
https = {**host, "HTTP_X_FORWARDED_PROTO": "https"}
plain_page = client.get("/", **host)
plain_health = client.get("/healthz", **host)
page = client.get("/", **https)
login = client.get("/accounts/login/", **https)
print(json.dumps({
    "settings": {
        name: getattr(settings, name)
        for name in (
            "DEBUG", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
            "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER",
            "EMBEDDED_STARTED", "CHATAPP_PRODUCTION",
        )
    },
    "plain_page": [plain_page.status_code, plain_page.headers.get("Location")],
    "plain_health": [plain_health.status_code, plain_health.json()["checks"]],
    "page": [page.status_code, dict(page.headers)],
    "csrf_cookie_secure": login.cookies["csrftoken"]["secure"],
}))
"""


def _run(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in (*REQUIRED, "DJANGO_SETTINGS_MODULE")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "chatapp.config.settings.production", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def service_env(django_db_setup: Any, django_db_blocker: Any, settings) -> dict[str, str]:
    """The required variables, with URLs of the test session's real Postgres and Redis."""
    from django.db import connection

    with django_db_blocker.unblock():
        db = connection.settings_dict
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    user = f"{quote(db['USER'])}@" if db["USER"] else ""
    database_url = f"postgresql://{user}{host}{port}/{db['NAME']}"
    return {**REQUIRED, "DATABASE_URL": database_url, "REDIS_URL": settings.REDIS_URL}


@pytest.mark.parametrize("missing", REQUIRED_ENV)
def test_a_missing_variable_stops_the_start_and_no_embedded_server_starts(
    tmp_path, missing, service_env
):
    # given: everything set but one, and a data folder of its own
    env = {**service_env, "CHATAPP_VAR_DIR": str(tmp_path / "var")}
    del env[missing]
    # when
    result = _run(env, "import django; django.setup()")
    # then
    assert result.returncode == 1
    assert (
        "django.core.exceptions.ImproperlyConfigured: chatapp production settings need "
        + (f"{missing} in the environment")
        in result.stderr
    )
    assert not (tmp_path / "var").exists()  # no pgdata/, no redis/: nothing was started


def test_the_development_secret_key_stops_the_start(tmp_path, service_env, settings):
    # given
    env = {**service_env, "DJANGO_SECRET_KEY": settings.CHATAPP_DEV_SECRET_KEY}
    # when
    result = _run(env, "import django; django.setup()")
    # then
    assert result.returncode == 1
    assert f"ImproperlyConfigured: {DEV_KEY_MESSAGE}" in result.stderr


def test_https_only_cookies_hsts_and_csp_with_healthz_open_over_http(service_env):
    # when
    result = _run(service_env, PROBE)
    # then
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["settings"] == {
        "DEBUG": False,
        "ALLOWED_HOSTS": ["chat.example.com"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "EMBEDDED_STARTED": [],
        "CHATAPP_PRODUCTION": True,
    }
    assert seen["plain_page"] == [301, "https://chat.example.com/"]
    status, checks = seen["plain_health"]
    assert status in (200, 503)  # 503 while no worker serves this Redis: never a redirect
    assert (checks["database"], checks["broker"]) == ("ok", "ok")
    status, headers = seen["page"]
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert sorted(headers["Content-Security-Policy"].split("; ")) == [
        "base-uri 'self'",
        "connect-src 'self'",
        "default-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "img-src 'self' data:",
        "object-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
    ]
    assert seen["csrf_cookie_secure"] is True
