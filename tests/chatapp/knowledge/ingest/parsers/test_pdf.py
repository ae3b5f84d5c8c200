"""Tests for PDF parsing: refusals, pages, heading lines, titles and running headers."""

from __future__ import annotations

import random

from chatapp.knowledge.ingest.parsers import Section, parse_document
from tests.chatapp.knowledge.ingest.conftest import MakePdf, refusal


def test_password_protected_pdf_is_refused_as_encrypted(make_pdf: MakePdf) -> None:
    # given
    data = make_pdf([["Secret refund rules."]], password="hunter2")

    # when
    error = refusal(data, "secret.pdf")

    # then
    assert error.code == "encrypted"


def test_pdf_with_owner_password_only_is_read(make_pdf: MakePdf) -> None:
    # given: an empty user password, as many "protected against editing" PDFs have
    data = make_pdf([["Readable by anyone."]], password="")

    # when
    doc = parse_document(data, filename="open.pdf")

    # then
    assert doc.sections == (Section((), "Readable by anyone.", page=1),)


def test_random_bytes_named_pdf_are_refused_as_corrupt() -> None:
    # given
    data = random.Random(3).randbytes(2000)

    # when
    error = refusal(data, "scan.pdf")

    # then
    assert error.code == "corrupt"
    assert str(error) == "scan.pdf is not a PDF file (no %PDF header)."


def test_truncated_pdf_is_refused_as_corrupt(make_pdf: MakePdf) -> None:
    # given
    data = make_pdf([["Hello world."]])

    # when
    error = refusal(data[: len(data) // 2], "broken.pdf")

    # then
    assert error.code == "corrupt"


def test_pdf_without_text_is_refused_as_no_text(make_pdf: MakePdf) -> None:
    # given: a page with no text layer, like a scan
    data = make_pdf([[]])

    # when
    error = refusal(data, "scan.pdf")

    # then
    assert error.code == "no_text"
    assert str(error) == "scan.pdf contains no extractable text."


def test_pdf_sections_keep_pages_and_heading_lines(make_pdf: MakePdf) -> None:
    # given
    pages = [
        ["1 Refunds", "Customers may ask for a refund within 30 days.", "Refunds go to the card."],
        ["More refund detail on page two.", "2 Shipping", "We ship worldwide."],
    ]

    # when
    doc = parse_document(make_pdf(pages, title="Acme Policies"), filename="policy.pdf")

    # then
    assert doc.title == "Acme Policies"
    assert doc.sections == (
        Section(
            ("1 Refunds",),
            "Customers may ask for a refund within 30 days. Refunds go to the card.",
            page=1,
        ),
        Section(("1 Refunds",), "More refund detail on page two.", page=2),
        Section(("2 Shipping",), "We ship worldwide.", page=2),
    )


def test_pdf_title_falls_back_to_first_line_and_drops_running_headers(make_pdf: MakePdf) -> None:
    # given: a header line and a page number repeated on every page
    pages = [["Acme Handbook", f"Body of page {n} is here.", str(n)] for n in (1, 2, 3)]

    # when
    doc = parse_document(make_pdf(pages, title="Microsoft Word - hb.docx"), filename="hb.pdf")

    # then
    assert doc.title == "Acme Handbook"
    assert [(s.page, s.text) for s in doc.sections] == [
        (1, "Body of page 1 is here."),
        (2, "Body of page 2 is here."),
        (3, "Body of page 3 is here."),
    ]


def test_pdf_drops_numbered_running_headers_but_keeps_numbered_headings(make_pdf: MakePdf) -> None:
    # given: "Acme Guide <page>" tops every page; "1 Refunds" is a real heading on page 1
    pages = [
        ["Acme Guide 1", "1 Refunds", "Refunds take five days."],
        ["Acme Guide 2", "Refunds go to the card."],
        ["Acme Guide 3", "2 Shipping", "We ship worldwide."],
        ["Acme Guide 4", "Orders leave in two days."],
    ]

    # when
    doc = parse_document(make_pdf(pages), filename="guide.pdf")

    # then
    assert [(s.heading_path, s.page, s.text) for s in doc.sections] == [
        (("1 Refunds",), 1, "Refunds take five days."),
        (("1 Refunds",), 2, "Refunds go to the card."),
        (("2 Shipping",), 3, "We ship worldwide."),
        (("2 Shipping",), 4, "Orders leave in two days."),
    ]
