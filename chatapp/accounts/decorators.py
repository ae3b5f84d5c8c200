"""View decorators that let in users by role (pages; the JSON API has its own in api/http.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import ensure_csrf_cookie

from chatapp.accounts.models import User

View = Callable[..., HttpResponse]


def _role_required(allowed: Callable[[User], bool], refusal: str) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        # The CSRF cookie is set so the page's scripts can call the REST API with the session.
        @login_required
        @ensure_csrf_cookie
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not isinstance(user, User) or not allowed(user):
                raise PermissionDenied(refusal)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


# Anonymous users are sent to log in; logged-in users without the role get 403.
staff_required = _role_required(lambda u: u.is_staff_member, "Agents and admins only.")
admin_required = _role_required(lambda u: u.is_admin_role, "Admins only.")
