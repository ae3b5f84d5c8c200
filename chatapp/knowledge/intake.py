"""Reading a bulk import: JSON lines and zip archives into the documents of an import job.

A problem with one line or one file becomes that item's error (``ImportSource.error``) and never
costs the others; only a body that is wrong as a whole (not a zip archive, nothing in it, too
many documents, too large once unpacked) raises ``ApplicationError``.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import IO, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatapp.core.errors import ApplicationError
from chatapp.core.validators import URL_MAX_CHARS, WebUrl
from chatapp.knowledge.ingest.parsers import SUPPORTED_EXTENSIONS
from chatapp.knowledge.jobs import ImportSource

NAME_MAX_CHARS: Final = 500  # Document.filename
ERR_EMPTY_LINES = "The body holds no JSON lines; send one document a line."
ERR_NOT_ZIP = "The body is not a zip archive."
ERR_EMPTY_ZIP = "The archive holds no files."
ERR_TOO_MANY = "More than {limit:,} documents in one import; split it."
ERR_UNPACKED = "The archive unpacks to more than {limit:,} bytes; split it."
ERR_LINE_NOT_UTF8 = "invalid_line: the line is not UTF-8 text."
ERR_LINE_NOT_JSON = "invalid_json: the line is not valid JSON ({error})."
ERR_LINE_SCHEMA = "invalid_line: {fields}"
ERR_MEMBER_NAME = "invalid_name: the file's path leaves the archive or is too long."
ERR_MEMBER_ENCRYPTED = "encrypted: {name} is password-protected in the archive."
ERR_MEMBER_UNSUPPORTED = "unsupported_type: use one of {extensions}."
ERR_MEMBER_TOO_LARGE = "too_large: {name} is larger than the limit of {limit:,} bytes."
ERR_MEMBER_CORRUPT = "corrupt: {name} cannot be read from the archive ({error})."


class JsonLine(BaseModel):
    """One document of a JSON lines import (the fields of a single JSON upload)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1)
    source_url: WebUrl = Field(default="", max_length=URL_MAX_CHARS)


def sources_from_jsonl(lines: Iterable[bytes], *, max_documents: int) -> list[ImportSource]:
    """One document per non-blank line, ``{"title", "text", "source_url"?}``.

    Args:
        lines: The body's lines (bytes, line endings included or not).
        max_documents: Most documents (lines that are not blank) accepted.

    Returns:
        One source per non-blank line, named ``line N`` (N counts every line from 1); a bad
        line carries its error.

    Raises:
        ApplicationError: ``empty_import`` (no line); ``too_many_documents`` (413).
    """
    sources: list[ImportSource] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw  # a BOM
        if not line.strip():
            continue
        if len(sources) >= max_documents:
            raise ApplicationError(
                "too_many_documents", ERR_TOO_MANY.format(limit=max_documents), status=413
            )
        sources.append(_source_from_line(f"line {number}", line))
    if not sources:
        raise ApplicationError("empty_import", ERR_EMPTY_LINES)
    return sources


def _source_from_line(name: str, line: bytes) -> ImportSource:
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError:
        return ImportSource(name=name, error=ERR_LINE_NOT_UTF8)
    try:
        data = json.loads(decoded)
    except json.JSONDecodeError as exc:
        return ImportSource(name=name, error=ERR_LINE_NOT_JSON.format(error=exc.msg))
    try:
        doc = JsonLine.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in exc.errors()
        )
        return ImportSource(name=name, error=ERR_LINE_SCHEMA.format(fields=fields))
    return ImportSource(name=name, title=doc.title, text=doc.text, source_url=doc.source_url)


def sources_from_zip(
    file: IO[bytes], *, max_documents: int, max_member_bytes: int, max_total_bytes: int
) -> list[ImportSource]:
    """One document per file of a zip archive, stored under its path in the archive.

    Folders, hidden entries (``.git/``, ``.DS_Store``) and macOS resource forks are skipped, as
    in a folder import; every other file is an item, refused with its reason when it is of an
    unsupported type, password-protected, too large or unreadable.

    Args:
        file: The archive (seekable).
        max_documents: Most files accepted.
        max_member_bytes: Largest file (``CHATAPP_UPLOAD_MAX_BYTES``).
        max_total_bytes: Most bytes unpacked in all (a zip bomb stops here).

    Returns:
        One source per file, in archive order.

    Raises:
        ApplicationError: ``invalid_archive``; ``empty_import``; ``too_many_documents`` (413);
            ``too_large`` (413) when it unpacks to more than ``max_total_bytes``.
    """
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise ApplicationError("invalid_archive", ERR_NOT_ZIP) from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not _hidden(m.filename)]
        if not members:
            raise ApplicationError("empty_import", ERR_EMPTY_ZIP)
        if len(members) > max_documents:
            raise ApplicationError(
                "too_many_documents", ERR_TOO_MANY.format(limit=max_documents), status=413
            )
        sources = []
        unpacked = 0
        for member in members:
            source = _source_from_member(archive, member, max_member_bytes)
            unpacked += len(source.data or b"")
            if unpacked > max_total_bytes:
                raise ApplicationError(
                    "too_large", ERR_UNPACKED.format(limit=max_total_bytes), status=413
                )
            sources.append(source)
    return sources


def _hidden(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return any(p == "__MACOSX" or (p.startswith(".") and p != "..") for p in parts)


def _source_from_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, max_bytes: int
) -> ImportSource:
    name = member.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or len(name) > NAME_MAX_CHARS:
        return ImportSource(name=name[:NAME_MAX_CHARS], error=ERR_MEMBER_NAME)
    base = path.name
    if member.flag_bits & 0x1:
        return ImportSource(name=name, error=ERR_MEMBER_ENCRYPTED.format(name=base))
    if not name.lower().endswith(SUPPORTED_EXTENSIONS):
        extensions = ", ".join(SUPPORTED_EXTENSIONS)
        return ImportSource(name=name, error=ERR_MEMBER_UNSUPPORTED.format(extensions=extensions))
    too_large = ImportSource(
        name=name, error=ERR_MEMBER_TOO_LARGE.format(name=base, limit=max_bytes)
    )
    if member.file_size > max_bytes:
        return too_large
    try:
        with archive.open(member) as stream:
            data = stream.read(max_bytes + 1)  # the header's size may lie
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
        return ImportSource(name=name, error=ERR_MEMBER_CORRUPT.format(name=base, error=exc))
    if len(data) > max_bytes:
        return too_large
    return ImportSource(name=name, data=data, filename=path.as_posix())
