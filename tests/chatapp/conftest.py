"""Users by role, shared by the page tests of the console and the dashboard."""

from __future__ import annotations

import pytest

from chatapp.accounts.models import User
from tests.factories.accounts import AdminFactory, AgentFactory, UserFactory


@pytest.fixture
def agent(db) -> User:
    return AgentFactory.create(username="alice")


@pytest.fixture
def other_agent(db) -> User:
    return AgentFactory.create(username="bob")


@pytest.fixture
def admin_user(db) -> User:
    return AdminFactory.create(username="root")


@pytest.fixture
def customer(db) -> User:
    return UserFactory.create(username="carol")
