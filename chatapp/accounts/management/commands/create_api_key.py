"""``manage.py create_api_key USERNAME --role admin|agent``: prints the key on its last line."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from typing_extensions import override

from chatapp.accounts.models import User
from chatapp.accounts.services import api_key_create, user_ensure


class Command(BaseCommand):
    help = "Create a staff user if missing and print a new API key for it."

    @override
    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=[User.Role.ADMIN, User.Role.AGENT], default="agent")
        parser.add_argument("--name", default="", help="Label for the key")

    @override
    def handle(self, *args: Any, **options: Any) -> None:
        user = user_ensure(username=options["username"], role=options["role"])
        key = api_key_create(user=user, name=options["name"])
        self.stderr.write(f"API key for {user.username} ({user.role}); it is shown only once:")
        self.stdout.write(key)
