"""Tests for plain-text parsing: underlined headings and paragraphs."""

from __future__ import annotations

from chatapp.knowledge.ingest.parsers import Section, parse_document


def test_plain_text_underlined_headings_and_paragraphs() -> None:
    # given
    text = (
        "Store Guide\n===========\n\nWelcome to the\nstore.\n\n"
        "Opening hours\n-------------\nWe open at 9.\n\nWe close at 5.\n"
    )

    # when
    doc = parse_document(text.encode(), filename="guide.txt")

    # then
    assert doc.title == "Store Guide"
    assert doc.sections == (
        Section(("Store Guide",), "Welcome to the store."),
        Section(("Store Guide", "Opening hours"), "We open at 9.\n\nWe close at 5."),
    )


def test_plain_text_without_headings_is_one_section_titled_by_the_stem() -> None:
    # given
    text = "First paragraph.\n\nSecond paragraph.\n"

    # when
    doc = parse_document(text.encode(), filename="notes.txt")

    # then
    assert doc.title == "notes"
    assert doc.sections == (Section((), "First paragraph.\n\nSecond paragraph."),)
