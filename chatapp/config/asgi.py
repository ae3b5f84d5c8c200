"""ASGI entry point: HTTP goes to Django, websockets to the Channels router."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.config.settings.base")

from chatapp.core.asgi_handler import get_asgi_application

django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

from chatapp.knowledge.embedding import warm_query_embedder_in_background  # noqa: E402

if settings.CHATAPP_WARM_QUERY_EMBEDDER:  # a web process, started: /search never waits for it
    warm_query_embedder_in_background()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry ready)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chatapp.core.body_limit import BodyLimitMiddleware  # noqa: E402
from chatapp.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(django_asgi_app),
        # No origin validator here: the consumers check the Origin per socket kind (visitor
        # allow-list, staff trusted origins; realtime/origins.py) and close with 4403 after
        # accepting, so a browser sees why.
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
