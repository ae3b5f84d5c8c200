"""Root URLs: each app's urls.py."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("chatapp.chat.urls")),
    path("", include("chatapp.api.urls")),
    path("", include("chatapp.feedback.urls")),
    path("", include("chatapp.replies.urls")),
    path("", include("chatapp.observability.urls")),
    path("accounts/", include("chatapp.accounts.urls")),
    path("console/", include("chatapp.console.urls")),
    path("dashboard/", include("chatapp.dashboard.urls")),
    path("", include("chatapp.widget.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "chatapp.api.views.not_found"
