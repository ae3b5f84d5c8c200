"""Tests for the parser front door: refusals, decoding, parse_text and the content hash."""

from __future__ import annotations

import random

import pytest

from chatapp.knowledge.ingest.errors import DocumentError
from chatapp.knowledge.ingest.parsers import Section, parse_document, parse_text
from tests.chatapp.knowledge.ingest.conftest import MakePdf, refusal


def test_empty_file_is_refused() -> None:
    # given / when
    error = refusal(b"", "faq.md")

    # then
    assert error.code == "empty"
    assert str(error) == "faq.md is empty."


def test_file_over_the_size_limit_is_refused() -> None:
    # given
    data = b"a" * 101

    # when
    error = refusal(data, "faq.txt", max_bytes=100)

    # then
    assert error.code == "too_large"
    assert str(error) == "faq.txt is 101 bytes; the limit is 100 bytes."


@pytest.mark.parametrize("filename", ["report.docx", "notes", "archive.tar.gz", "x.pdf.exe"])
def test_unknown_extension_is_refused(filename: str) -> None:
    # given / when
    error = refusal(b"hello", filename)

    # then
    assert error.code == "unsupported_type"


def test_nul_bytes_in_a_text_type_are_refused_as_binary() -> None:
    # given / when
    error = refusal(b"hello\x00world", "notes.txt")

    # then
    assert error.code == "binary"
    assert str(error) == "notes.txt contains binary data (NUL bytes), not text."


def test_random_bytes_named_markdown_are_refused_as_binary() -> None:
    # given
    data = random.Random(7).randbytes(4000).replace(b"\x00", b"\x01")

    # when
    error = refusal(data, "faq.md")

    # then
    assert error.code == "binary"


def test_pdf_renamed_to_txt_is_refused_as_binary(make_pdf: MakePdf) -> None:
    # given
    data = make_pdf([["Hello world."]])

    # when
    error = refusal(data, "policy.txt")

    # then
    assert error.code == "binary"
    assert str(error) == "policy.txt looks like a PDF document, not a text file."


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"  \n\n\t ", "blank.txt"),
        (
            b"<html><head><script>var a = 1;</script></head><body><nav>Menu</nav></body></html>",
            "menu.html",
        ),
        (b"---\ntitle: Only front matter\n---\n", "fm.md"),
    ],
)
def test_document_without_text_is_refused_as_no_text(data: bytes, filename: str) -> None:
    # given / when
    error = refusal(data, filename)

    # then
    assert error.code == "no_text"


def test_unknown_error_code_is_a_programming_error() -> None:
    # given / when / then
    with pytest.raises(ValueError, match="unknown document error code"):
        DocumentError("oops", "detail")


def test_document_error_survives_pickling() -> None:
    # given
    error = DocumentError("encrypted", "a.pdf is password-protected")

    # when
    rebuild, args = error.__reduce__()  # what pickle (and Celery's result backend) calls
    copy = rebuild(*args)

    # then
    assert (copy.code, copy.detail, str(copy)) == (error.code, error.detail, str(error))


def test_utf8_with_bom_is_decoded() -> None:
    # given
    data = "\ufeffCafé prices went up.".encode()

    # when
    doc = parse_document(data, filename="news.txt")

    # then
    assert doc.text == "Café prices went up."


def test_cp1252_text_falls_back_from_utf8() -> None:
    # given
    data = "\u201cCafé\u201d costs 5\u20ac.".encode("cp1252")

    # when
    doc = parse_document(data, filename="menu.TXT")

    # then
    assert doc.text == "\u201cCafé\u201d costs 5\u20ac."


def test_utf16_with_bom_is_decoded() -> None:
    # given
    data = "Hello from Windows.".encode("utf-16")

    # when
    doc = parse_document(data, filename="win.txt")

    # then
    assert doc.text == "Hello from Windows."


def test_parse_text_uses_the_given_title_and_format() -> None:
    # given / when
    doc = parse_text("Para one.\n\nPara two.", title="  Gift   cards ", fmt="text")

    # then
    assert doc.title == "Gift cards"
    assert doc.sections == (Section((), "Para one.\n\nPara two."),)


def test_parse_text_removes_nul_and_control_characters() -> None:
    # given
    text = "Hello\x00 wor\x07ld."

    # when
    doc = parse_text(text, title="T", fmt="text")

    # then
    assert doc.text == "Hello world."


def test_parse_text_without_text_is_refused() -> None:
    # given / when
    with pytest.raises(DocumentError) as caught:
        parse_text("# Heading only\n", title="Empty")

    # then
    assert caught.value.code == "no_text"


def test_content_hash_ignores_line_endings_and_whitespace_but_not_words() -> None:
    # given
    base = parse_text("# A\n\nOne two.\n", title="x")
    same = parse_text("# A\r\n\r\nOne   two.\r\n", title="other title")
    changed = parse_text("# A\n\nOne three.\n", title="x")

    # when / then
    assert base.content_hash == same.content_hash
    assert base.content_hash != changed.content_hash
    assert len(base.content_hash) == 64
