"""Test overrides only: fast hashing, tiny models, short timeouts. Same Postgres and Redis kinds."""

from __future__ import annotations

import os

# Tests keep their embedded servers apart from the development ones in var/.
os.environ.setdefault("CHATAPP_VAR_DIR", os.path.join(os.getcwd(), "var", "test"))
os.environ.setdefault("CHATAPP_MODELS_DIR", os.path.join(os.getcwd(), "var", "models"))
# Each session recreates the test database (ids start again), so tasks a previous session left
# in Redis must not come back with a restart: the test Redis keeps nothing.
os.environ.setdefault("CHATAPP_REDIS_APPEND_ONLY", "no")

from chatapp.config.settings.base import *  # noqa: F403
from chatapp.config.settings.base import CHATAPP_MODELS_DIR, env
from chatapp.config.settings.base import MIDDLEWARE as BASE_MIDDLEWARE

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHATAPP_MODEL_PROFILE = "test"
CHATAPP_LLM_MODEL = env(
    "CHATAPP_TEST_LLM_MODEL", default=str(CHATAPP_MODELS_DIR / "smollm2-135m-instruct")
)
CHATAPP_REVIEW_MODEL = CHATAPP_LLM_MODEL
# Explicit, so tests never measure engines, and the thresholds below (tuned on torch fp32
# SmolLM2) hold; CTranslate2 has its own tests.
CHATAPP_LLM_ENGINE = env("CHATAPP_TEST_LLM_ENGINE", default="torch")
CHATAPP_ANSWER_MAX_TOKENS = 40
# The test worker shares 2 cores with the web server, Postgres and pytest itself.
CHATAPP_TORCH_THREADS = 1
CHATAPP_WARM_QUERY_EMBEDDER = False  # tests that search load it themselves
CHATAPP_REVIEW_MAX_CLAIMS = 2
# SmolLM2-135M is a weak judge: it gives P(Yes) ~0.3-0.6 even to claims copied verbatim from a
# passage, so its threshold sits lower than the 1.5B default. Invented numbers still fail review.
CHATAPP_REVIEW_THRESHOLD = 0.2
CHATAPP_STAGE_SOFT_LIMIT_S = 60
CHATAPP_STAGE_HARD_LIMIT_S = 90
CHATAPP_TURN_DEADLINE_S = 120
CHATAPP_HEALTH_TIMEOUT_S = 1.0
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Limits are off in tests (the suite creates many conversations from one address); the tests of
# the limits set the rates they exercise, in process or through CHATAPP_RATE_<NAME> for a server.
CHATAPP_RATE_LIMITS = {
    name: os.environ.get(f"CHATAPP_RATE_{name.upper()}", "")
    for name in CHATAPP_RATE_LIMITS  # noqa: F405
}
# Auto-assignment is off unless a test turns it on (an AssignmentSettings row): the other tests
# claim conversations themselves and expect waiting ones to stay waiting.
CHATAPP_AUTO_ASSIGN = env.bool("CHATAPP_AUTO_ASSIGN", default=False)
# The test receivers listen on loopback; anything else private stays refused (SSRF tests).
CHATAPP_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
CHATAPP_WEBHOOK_RETRY_BASE_S = env.float("CHATAPP_WEBHOOK_RETRY_BASE_S", default=1.0)
CHATAPP_WEBHOOK_TIMEOUT_S = 3.0

# Every /api/ response the tests see is checked against the generated OpenAPI document
# (tests/contract.py); servers the end-to-end tests start use these settings too.
_API = BASE_MIDDLEWARE.index("chatapp.api.middleware.ApiMiddleware")
MIDDLEWARE = [*BASE_MIDDLEWARE[:_API], "tests.contract.ContractMiddleware", *BASE_MIDDLEWARE[_API:]]
