"""Django admin for users and keys."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from chatapp.accounts.models import ApiKey, User


@admin.register(User)
class ChatUserAdmin(UserAdmin):  # type: ignore[type-arg]  # django-stubs generic over the model
    list_display = ("username", "email", "role", "is_active")
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Role", {"fields": ("role",)}))


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash")
