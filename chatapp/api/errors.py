"""Every failure of an API operation as ``{"error": {"code", "detail", ...}}`` (docs/api.md).

django-ninja hands each exception an operation raises (or its auth, parser and validation raise)
to the handler registered for the nearest class; ``register`` installs ours on the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from chatapp.api.http import ERR_BODY_TOO_LARGE, django_fields, error_response, invalid_request
from chatapp.api.security import bearer_token
from chatapp.core.errors import ApplicationError
from chatapp.core.ratelimit import RateLimited

logger = logging.getLogger("chatapp.api")

ERR_MULTIPART = "The multipart body cannot be read: {error}"
ERR_KEY = "Unknown or revoked API key."
ERR_UNAUTHENTICATED = "Send Authorization: Bearer <API key>."
ERR_SERVER = "Something went wrong on our side."
# Codes for ninja's own HttpErrors (none of ours raise one).
_HTTP_CODES = {400: "invalid_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found"}


def application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    response = JsonResponse(exc.as_dict(), status=exc.status)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


def validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    return application_error(request, invalid_request([_field(e) for e in exc.errors]))


def _field(error: dict[str, Any]) -> dict[str, str]:
    """Ninja's ``loc`` is (source, [body parameter,] field path...): keep the field path."""
    loc = [str(part) for part in error.get("loc", ())]
    if loc and loc[0] == "body":
        loc = loc[2:]  # every body parameter is one schema; its name is not the client's
    elif loc:
        loc = loc[1:]
    return {"field": ".".join(loc), "message": str(error.get("msg", ""))}


def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    if bearer_token(request) is not None:
        return error_response("invalid_token", ERR_KEY, 401)
    return error_response("unauthenticated", ERR_UNAUTHENTICATED, 401)


def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja wraps what the body parser raises (chatapp.api.app.JsonParser) in a 400.
    if isinstance(exc.__cause__, ApplicationError):
        return application_error(request, exc.__cause__)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(code, str(exc), exc.status_code)


def django_validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    # A model's full_clean() in a service.
    return application_error(request, invalid_request(django_fields(exc)))


def too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response("too_large", ERR_BODY_TOO_LARGE, 413)


def multipart_error(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    # e.g. no boundary: the client's fault
    return error_response("invalid_request", ERR_MULTIPART.format(error=exc), 400)


def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response("not_found", "Not found.", 404)


def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return error_response("server_error", ERR_SERVER, 500)


HANDLERS: list[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]]] = [
    (Exception, server_error),
    (ApplicationError, application_error),
    (NinjaValidationError, validation_error),
    (AuthenticationError, authentication_error),
    (HttpError, http_error),
    (DjangoValidationError, django_validation_error),
    (RequestDataTooBig, too_large),
    (MultiPartParserError, multipart_error),
    (Http404, not_found),
]


def register(api: NinjaAPI) -> None:
    """Install the handlers; ninja picks the one of the exception's nearest class."""
    for exc_class, handler in HANDLERS:
        api.add_exception_handler(exc_class, handler)
