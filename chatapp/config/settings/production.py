"""Production: secrets and services from the environment, HTTPS only, no embedded servers.

Select with ``DJANGO_SETTINGS_MODULE=chatapp.config.settings.production``. The required variables
are checked before the base settings load, because the base settings would otherwise start the
embedded Postgres/Redis of development for a missing URL.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

# Same .env the base settings read; read here first so that it counts for the checks below.
_ENV_FILE = Path(__file__).resolve().parents[3] / ".env"
if _ENV_FILE.exists():
    environ.Env.read_env(_ENV_FILE)

REQUIRED_ENV = ("DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_ALLOWED_HOSTS")
MISSING_ENV_MESSAGE = (
    "chatapp production settings need {names} in the environment (see .env.example); "
    "they never fall back to the embedded development servers or the development secret key."
)
DEV_KEY_MESSAGE = "DJANGO_SECRET_KEY is the public development key: set a long random one."

_missing = [name for name in REQUIRED_ENV if not os.environ.get(name, "").strip()]
if _missing:
    raise ImproperlyConfigured(MISSING_ENV_MESSAGE.format(names=", ".join(_missing)))

# One JSON object per log line (turn and conversation ids included) unless told otherwise.
os.environ.setdefault("CHATAPP_LOG_FORMAT", "json")

from chatapp.config.settings.base import *  # noqa: E402, F403
from chatapp.config.settings.base import CHATAPP_DEV_SECRET_KEY, SECRET_KEY, env  # noqa: E402

if SECRET_KEY == CHATAPP_DEV_SECRET_KEY:
    raise ImproperlyConfigured(DEV_KEY_MESSAGE)

CHATAPP_PRODUCTION = True
DEBUG = False
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

# HTTPS: the app sits behind a TLS-terminating proxy that sets X-Forwarded-Proto (and must strip
# one sent by a client). /healthz stays reachable over plain HTTP for load balancer probes.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SESSION_COOKIE_SECURE = True
# The browser modules read the CSRF cookie to send X-CSRFToken, so it cannot be HttpOnly.
CSRF_COOKIE_SECURE = True
# One year, subdomains, preload: what `check --deploy` asks for. The preload directive only
# consents to the browsers' list; a site gets on it by submitting itself.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
