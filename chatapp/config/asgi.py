"""ASGI entry point: HTTP goes to Django, websockets to the Channels router."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.config.settings.base")
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

from chatapp.knowledge.embedding import warm_query_embedder_in_background  # noqa: E402

if settings.CHATAPP_WARM_QUERY_EMBEDDER:  # a web process, started: /search never waits for it
    warm_query_embedder_in_background()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry ready)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from chatapp.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
