"""Websocket URL routes."""

from django.urls import path

from chatapp.realtime.consumers import ConsoleConsumer, ConversationConsumer

websocket_urlpatterns = [
    path("ws/conversations/<str:conversation_id>/", ConversationConsumer.as_asgi()),
    path("ws/console/", ConsoleConsumer.as_asgi()),
]
