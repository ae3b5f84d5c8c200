"""Django's ASGI handler, with the middleware chain and the view run in one thread hop.

Every view of this app and most of its middleware are synchronous. Under ASGI, Django builds the
chain in async mode: each async-capable middleware below a sync-only one runs its hooks through
``sync_to_async`` one by one, and the view through another, so a request crossed between the
event loop and the sync thread about ten times (docs/notes/issue-7-search-routing.md, session 17:
1.1 ms of a 2.8 ms API request).
Here the chain is built as under WSGI and run whole in the sync thread; reading the request and
sending the response stay asynchronous (Django's own code), so streaming responses and
websockets are unchanged.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase
from typing_extensions import override


class SyncChainASGIHandler(ASGIHandler):
    @override
    def load_middleware(self, is_async: bool = False) -> None:
        # The chain in sync mode whatever the server: one hop per request, in the same thread
        # (thread_sensitive) that Django runs sync views in, so the ORM's connections stay put.
        super().load_middleware(is_async=False)

    @override
    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_asgi_application() -> SyncChainASGIHandler:
    """``django.core.asgi.get_asgi_application`` with the one-hop handler."""
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()
