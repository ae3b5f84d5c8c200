"""The REST API under /api/v1/ (django-ninja: chatapp.api.app) and the health probe."""

from django.urls import path

from chatapp.api import views
from chatapp.api.app import PREFIX, api

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path(PREFIX, api.urls),
]
