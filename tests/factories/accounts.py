from __future__ import annotations

import factory
from factory.declarations import Sequence
from factory.django import DjangoModelFactory

from chatapp.accounts.models import User


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = Sequence(lambda n: f"user{n}")
    role = User.Role.CUSTOMER
    password = factory.django.Password("pw")


class AgentFactory(UserFactory):
    username = Sequence(lambda n: f"agent{n}")
    role = User.Role.AGENT


class AdminFactory(UserFactory):
    username = Sequence(lambda n: f"admin{n}")
    role = User.Role.ADMIN
