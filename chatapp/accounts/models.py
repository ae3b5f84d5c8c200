"""Users with roles, and the API keys staff use for the REST API."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from typing_extensions import override


class StaffUserManager(UserManager["User"]):
    """``createsuperuser`` makes an admin of this app (dashboard, API), not only of /admin/."""

    @override
    def create_superuser(
        self,
        username: str,
        email: str | None = None,
        password: str | None = None,
        **extra_fields: Any,
    ) -> User:
        extra_fields.setdefault("role", User.Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    class Role(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        AGENT = "agent", "Support agent"
        ADMIN = "admin", "Administrator"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CUSTOMER)

    objects: ClassVar[StaffUserManager] = StaffUserManager()

    @property
    def is_staff_member(self) -> bool:
        return self.role in (self.Role.AGENT, self.Role.ADMIN)

    @property
    def is_admin_role(self) -> bool:
        return self.role == self.Role.ADMIN


class ApiKey(models.Model):
    """A bearer key. Only its sha256 is stored; the prefix finds the row without a scan."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    @override
    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
