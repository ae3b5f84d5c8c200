"""Multipart uploads read in chunks, refused (413) as soon as a file passes its size limit."""

from __future__ import annotations

from typing import IO, Any, Final

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from typing_extensions import override

from chatapp.core.errors import ApplicationError

# Room for the multipart framing and the small form fields beside the file.
MULTIPART_OVERHEAD_BYTES: Final = 64 * 1024
ERR_TOO_LARGE = "The file is larger than {limit:,} bytes."
ERR_NO_FILE = 'Send the file in the "{field}" field.'
ERR_MULTIPART = "The multipart body cannot be read: {error}"


class UploadTooLarge(ApplicationError):
    def __init__(self, limit: int) -> None:
        super().__init__("too_large", ERR_TOO_LARGE.format(limit=limit), status=413)


class SizeLimitUploadHandler(FileUploadHandler):
    """First of the request's upload handlers: counts each file's bytes as they arrive.

    A body declared larger than the limit is refused before any of it is read; otherwise the
    parse stops at the first chunk that takes a file past the limit, so nothing larger than the
    limit is held (Django's own handlers after this one keep what passes, in memory while
    small, in a temporary file beyond).
    """

    def __init__(self, request: HttpRequest, max_file_bytes: int) -> None:
        super().__init__(request)
        self.max_file_bytes = max_file_bytes
        self.received = 0

    @override
    def handle_raw_input(
        self,
        input_data: IO[bytes],
        META: dict[str, str],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        if content_length > self.max_file_bytes + MULTIPART_OVERHEAD_BYTES:
            raise UploadTooLarge(self.max_file_bytes)

    @override
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    @override
    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.max_file_bytes:
            raise UploadTooLarge(self.max_file_bytes)
        return raw_data

    @override
    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the file


def limit_upload(request: HttpRequest, *, max_file_bytes: int) -> None:
    """Bound every file of ``request``'s multipart body; call before touching ``request.FILES``.

    A body already parsed (a session's CSRF check reads the form) was bounded by the ASGI body
    limit (``chatapp/core/body_limit.py``); the file's size is checked again by the service.
    """
    if hasattr(request, "_files"):
        return
    request.upload_handlers.insert(0, SizeLimitUploadHandler(request, max_file_bytes))


def uploaded_file(request: HttpRequest, field: str) -> UploadedFile[Any]:
    """The file of form field ``field``.

    Raises:
        ApplicationError: ``too_large`` (413), ``invalid_request`` (no such file, bad body).
    """
    try:
        upload = request.FILES.get(field)
    except MultiPartParserError as exc:
        raise ApplicationError(
            "invalid_request",
            ERR_MULTIPART.format(error=exc),
            fields=[{"field": field, "message": str(exc)}],
        ) from None
    if upload is None:
        raise ApplicationError(
            "invalid_request",
            ERR_NO_FILE.format(field=field),
            fields=[{"field": field, "message": "Field required"}],
        )
    return upload
