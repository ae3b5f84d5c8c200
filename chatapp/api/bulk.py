"""Reading a bulk import request: JSON lines, a zip archive, or multipart files.

The body is copied, bounded by ``CHATAPP_IMPORT_MAX_BYTES``, into a spooled temporary file (in
memory while small), so that a zip can be read at random and nothing larger than the limit is
ever held. What is wrong with one line or file is left to the job's items; what is wrong with
the request as a whole raises ``ApplicationError`` (4xx) before anything is stored.
"""

from __future__ import annotations

import io
import tempfile
from typing import IO, Final

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from chatapp.core.errors import ApplicationError
from chatapp.knowledge.intake import sources_from_jsonl, sources_from_zip
from chatapp.knowledge.jobs import ImportSource

JSONL_TYPES: Final = frozenset(
    {
        "application/x-ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
        "application/json-lines",
    }
)
ZIP_TYPES: Final = frozenset({"application/zip", "application/x-zip-compressed"})
MULTIPART: Final = "multipart/form-data"
FILE_FIELDS: Final = ("file", "files")
SPOOL_BYTES: Final = 8 * 1024 * 1024  # bodies up to this stay in memory
COPY_BYTES: Final = 1024 * 1024
ERR_TYPE = (
    "Send JSON lines (application/x-ndjson), a zip archive (application/zip) or files "
    '(multipart/form-data, field "file").'
)
ERR_TOO_LARGE = "The request is larger than {limit:,} bytes; split the import."
ERR_NO_FILES = 'Send the files in "file" fields.'
ERR_MULTIPART = "The multipart body cannot be read: {error}"
ERR_TOO_MANY_FILES = "More than {limit:,} files in one request; split the import."
ERR_FILE_TOO_LARGE = "too_large: {name} is larger than the limit of {limit:,} bytes."


def bulk_sources(request: HttpRequest) -> tuple[list[ImportSource], str]:
    """The documents of a bulk import request, and how they came (``jsonl``, ``zip``, ...).

    Raises:
        ApplicationError: ``unsupported_media_type`` (415); ``too_large`` (413); the format's
            errors (``empty_import``, ``invalid_archive``, ``too_many_documents``).
    """
    max_body = settings.CHATAPP_IMPORT_MAX_BYTES
    max_docs = settings.CHATAPP_IMPORT_MAX_DOCUMENTS
    content_type = request.content_type or ""
    if content_type not in JSONL_TYPES | ZIP_TYPES | {MULTIPART}:
        raise ApplicationError("unsupported_media_type", ERR_TYPE, status=415)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_body:
        raise ApplicationError("too_large", ERR_TOO_LARGE.format(limit=max_body), status=413)
    if content_type == MULTIPART:
        return _multipart_sources(request, max_docs=max_docs), "multipart"
    with _spooled_body(request, max_body) as body:
        if content_type in ZIP_TYPES:
            sources = sources_from_zip(
                body,
                max_documents=max_docs,
                max_member_bytes=settings.CHATAPP_UPLOAD_MAX_BYTES,
                max_total_bytes=max_body,
            )
            return sources, "zip"
        return sources_from_jsonl(body, max_documents=max_docs), "jsonl"


def _spooled_body(request: HttpRequest, limit: int) -> IO[bytes]:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115  (returned open)
    size = 0
    while chunk := request.read(COPY_BYTES):
        size += len(chunk)
        if size > limit:
            spool.close()
            raise ApplicationError("too_large", ERR_TOO_LARGE.format(limit=limit), status=413)
        spool.write(chunk)
    spool.seek(0)
    return spool


def _multipart_sources(request: HttpRequest, *, max_docs: int) -> list[ImportSource]:
    try:
        uploads = [u for field in FILE_FIELDS for u in request.FILES.getlist(field)]
    except TooManyFilesSent:
        raise ApplicationError(
            "too_many_documents", ERR_TOO_MANY_FILES.format(limit=max_docs), status=413
        ) from None
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raise ApplicationError("too_large", ERR_TOO_LARGE.format(limit=limit), status=413) from None
    except MultiPartParserError as exc:
        raise ApplicationError("invalid_request", ERR_MULTIPART.format(error=exc)) from None
    if not uploads:
        raise ApplicationError("empty_import", ERR_NO_FILES)
    max_file = settings.CHATAPP_UPLOAD_MAX_BYTES
    sources: list[ImportSource] = []
    for upload in uploads:
        name = (upload.name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
        if name.lower().endswith(".zip"):
            sources += sources_from_zip(
                upload.file or io.BytesIO(),  # an upload always has its file
                max_documents=max_docs,
                max_member_bytes=max_file,
                max_total_bytes=settings.CHATAPP_IMPORT_MAX_BYTES,
            )
        elif (upload.size or 0) > max_file:
            error = ERR_FILE_TOO_LARGE.format(name=name, limit=max_file)
            sources.append(ImportSource(name=name, error=error))
        else:
            sources.append(ImportSource(name=name, data=upload.read(), filename=name))
    if len(sources) > max_docs:
        raise ApplicationError(
            "too_many_documents", ERR_TOO_MANY_FILES.format(limit=max_docs), status=413
        )
    return sources
