"""Reading bulk imports: JSON lines and zip archives, a bad line or file costing only itself."""

from __future__ import annotations

import io
import random

import pytest

from chatapp.core.errors import ApplicationError
from chatapp.knowledge.intake import sources_from_jsonl, sources_from_zip
from chatapp.knowledge.jobs import ImportSource
from tests.factories.documents import make_zip

LIMITS = {"max_documents": 10, "max_member_bytes": 100, "max_total_bytes": 1000}


def test_json_lines_become_documents_and_a_bad_line_says_why():
    # given
    body = [
        b'\xef\xbb\xbf{"title": "Refunds", "text": "Five days.", "source_url": "https://x.test/r"}\n',
        b"\n",
        b'{"title": "Broken", "text": "no closing brace"\n',
        b'{"title": "No text"}\n',
        b'{"title": "Extra", "text": "x", "lang": "en"}\n',
        b"\xff\xfe not utf-8\n",
        b'{"title": "Shipping", "text": "Two days."}',
    ]

    # when
    sources = sources_from_jsonl(body, max_documents=10)

    # then: lines are numbered as in the file, blank ones skipped
    assert sources == [
        ImportSource(
            name="line 1", title="Refunds", text="Five days.", source_url="https://x.test/r"
        ),
        ImportSource(
            name="line 3",
            error="invalid_json: the line is not valid JSON (Expecting ',' delimiter).",
        ),
        ImportSource(name="line 4", error="invalid_line: text: Field required"),
        ImportSource(name="line 5", error="invalid_line: lang: Extra inputs are not permitted"),
        ImportSource(name="line 6", error="invalid_line: the line is not UTF-8 text."),
        ImportSource(name="line 7", title="Shipping", text="Two days."),
    ]


def test_json_lines_that_are_not_objects_are_refused_line_by_line():
    # when
    (source,) = sources_from_jsonl([b"[1, 2]"], max_documents=10)

    # then
    assert source.error.startswith("invalid_line: line: Input should be")


@pytest.mark.parametrize(
    ("lines", "code", "status"),
    [
        ([b"", b"  \n"], "empty_import", 400),
        ([b'{"title": "a", "text": "b"}\n'] * 3, "too_many_documents", 413),
    ],
)
def test_json_lines_wrong_as_a_whole_are_refused(lines, code, status):
    # when
    with pytest.raises(ApplicationError) as caught:
        sources_from_jsonl(lines, max_documents=2)

    # then
    assert (caught.value.code, caught.value.status) == (code, status)


def test_zip_files_become_documents_and_a_bad_file_says_why():
    # given
    archive = make_zip(
        {
            "help/refunds.md": b"# Refunds\n\nFive days.\n",
            "help/": b"",
            "help/.DS_Store": b"junk",
            "__MACOSX/help/._refunds.md": b"junk",
            "help/logo.png": b"\x89PNG",
            "help/big.txt": b"x" * 101,
            "help/secret.md": b"# Secret",
            "../escape.md": b"# Out",
            "help/notes.txt": b"Notes\n",
        },
        encrypted=("help/secret.md",),
    )

    # when
    sources = sources_from_zip(io.BytesIO(archive), **LIMITS)

    # then
    assert [(s.name, s.filename, s.error) for s in sources] == [
        ("help/refunds.md", "help/refunds.md", ""),
        (
            "help/logo.png",
            "",
            "unsupported_type: use one of .md, .markdown, .txt, .html, .htm, .pdf.",
        ),
        ("help/big.txt", "", "too_large: big.txt is larger than the limit of 100 bytes."),
        ("help/secret.md", "", "encrypted: secret.md is password-protected in the archive."),
        ("../escape.md", "", "invalid_name: the file's path leaves the archive or is too long."),
        ("help/notes.txt", "help/notes.txt", ""),
    ]
    assert sources[0].data == b"# Refunds\n\nFive days.\n"


def test_a_zip_member_that_cannot_be_unpacked_is_refused_alone():
    # given: the second member's compressed bytes are damaged
    rng = random.Random(1)
    body = bytes(rng.choice(b"abcdefghij ") for _ in range(300))
    archive = bytearray(make_zip({"a.md": b"# A\n\nFine.\n", "b.md": body}))
    start = archive.index(b"b.md") + len(b"b.md")
    archive[start + 10 : start + 20] = b"\x00" * 10

    # when
    sources = sources_from_zip(io.BytesIO(bytes(archive)), **LIMITS | {"max_member_bytes": 1000})

    # then
    assert (sources[0].name, sources[0].error) == ("a.md", "")
    assert sources[1].name == "b.md"
    assert sources[1].error.startswith("corrupt: b.md cannot be read from the archive (")


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        (b"PK\x03\x04 not really", "invalid_archive", 400),
        (make_zip({"folder/": b"", ".hidden.md": b"# x"}), "empty_import", 400),
        (make_zip({f"{n}.md": b"# x" for n in range(11)}), "too_many_documents", 413),
        (make_zip({f"{n}.md": b"x" * 100 for n in range(10)} | {"z.md": b""}), "too_large", 413),
    ],
)
def test_zips_wrong_as_a_whole_are_refused(body, code, status):
    # when
    with pytest.raises(ApplicationError) as caught:
        sources_from_zip(
            io.BytesIO(body),
            **LIMITS | {"max_documents": 11, "max_total_bytes": 999}
            if code == "too_large"
            else LIMITS,
        )

    # then
    assert (caught.value.code, caught.value.status) == (code, status)
