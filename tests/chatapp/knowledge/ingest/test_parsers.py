"""Tests for parsing uploads into sections: refusals, headings, anchors, pages and titles."""

from __future__ import annotations

import random

import pytest

from chatapp.knowledge.ingest.errors import DocumentError
from chatapp.knowledge.ingest.parsers import Section, parse_document, parse_text
from tests.chatapp.knowledge.ingest.conftest import MakePdf

# --- refusals -------------------------------------------------------------------------------


def _refusal(data: bytes, filename: str, max_bytes: int = 20_000_000) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        parse_document(data, filename=filename, max_bytes=max_bytes)
    return caught.value


def test_empty_file_is_refused() -> None:
    # given / when
    error = _refusal(b"", "faq.md")

    # then
    assert error.code == "empty"
    assert str(error) == "faq.md is empty."


def test_file_over_the_size_limit_is_refused() -> None:
    # given
    data = b"a" * 101

    # when
    error = _refusal(data, "faq.txt", max_bytes=100)

    # then
    assert error.code == "too_large"
    assert str(error) == "faq.txt is 101 bytes; the limit is 100 bytes."


@pytest.mark.parametrize("filename", ["report.docx", "notes", "archive.tar.gz", "x.pdf.exe"])
def test_unknown_extension_is_refused(filename: str) -> None:
    # given / when
    error = _refusal(b"hello", filename)

    # then
    assert error.code == "unsupported_type"


def test_nul_bytes_in_a_text_type_are_refused_as_binary() -> None:
    # given / when
    error = _refusal(b"hello\x00world", "notes.txt")

    # then
    assert error.code == "binary"
    assert str(error) == "notes.txt contains binary data (NUL bytes), not text."


def test_random_bytes_named_markdown_are_refused_as_binary() -> None:
    # given
    data = random.Random(7).randbytes(4000).replace(b"\x00", b"\x01")

    # when
    error = _refusal(data, "faq.md")

    # then
    assert error.code == "binary"


def test_pdf_renamed_to_txt_is_refused_as_binary(make_pdf: MakePdf) -> None:
    # given
    data = make_pdf([["Hello world."]])

    # when
    error = _refusal(data, "policy.txt")

    # then
    assert error.code == "binary"
    assert str(error) == "policy.txt looks like a PDF document, not a text file."


def test_password_protected_pdf_is_refused_as_encrypted(make_pdf: MakePdf) -> None:
    # given
    data = make_pdf([["Secret refund rules."]], password="hunter2")

    # when
    error = _refusal(data, "secret.pdf")

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
    error = _refusal(data, "scan.pdf")

    # then
    assert error.code == "corrupt"
    assert str(error) == "scan.pdf is not a PDF file (no %PDF header)."


def test_truncated_pdf_is_refused_as_corrupt(make_pdf: MakePdf) -> None:
    # given
    data = make_pdf([["Hello world."]])

    # when
    error = _refusal(data[: len(data) // 2], "broken.pdf")

    # then
    assert error.code == "corrupt"


def test_pdf_without_text_is_refused_as_no_text(make_pdf: MakePdf) -> None:
    # given: a page with no text layer, like a scan
    data = make_pdf([[]])

    # when
    error = _refusal(data, "scan.pdf")

    # then
    assert error.code == "no_text"
    assert str(error) == "scan.pdf contains no extractable text."


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
    error = _refusal(data, filename)

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


# --- text decoding --------------------------------------------------------------------------


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


# --- Markdown -------------------------------------------------------------------------------

MARKDOWN = """\
# Billing

Intro to [billing](https://example.com/billing "docs") and ![logo](logo.png).

## Refunds

Refunds take 5 days.
Wrapped line.

```python
# not a heading
def refund():  # keep   spacing
    return 1
```

### Refunds

Card refunds only.

Shipping & Returns!
-------------------

- Ships in 2 days
- Returns within 30 days
"""


def test_markdown_heading_paths_and_github_anchors() -> None:
    # given / when
    doc = parse_document(MARKDOWN.encode(), filename="Billing-FAQ.MD")

    # then
    assert doc.title == "Billing"
    assert [(s.heading_path, s.anchor) for s in doc.sections] == [
        (("Billing",), "billing"),
        (("Billing", "Refunds"), "refunds"),
        (("Billing", "Refunds", "Refunds"), "refunds-1"),
        (("Billing", "Shipping & Returns!"), "shipping--returns"),
    ]


def test_markdown_text_strips_links_and_keeps_code_verbatim() -> None:
    # given / when
    doc = parse_document(MARKDOWN.encode(), filename="faq.md")

    # then
    assert doc.sections[0].text == "Intro to billing and logo."
    assert doc.sections[1].text == (
        "Refunds take 5 days. Wrapped line.\n\n"
        "```python\n# not a heading\ndef refund():  # keep   spacing\n    return 1\n```"
    )
    assert doc.sections[3].text == "- Ships in 2 days\n- Returns within 30 days"


def test_markdown_front_matter_sets_the_title() -> None:
    # given
    text = '---\ntitle: "Refund policy"\nauthor: ops\n---\n# Heading\n\nBody.\n'

    # when
    doc = parse_document(text.encode(), filename="policy.md")

    # then
    assert doc.title == "Refund policy"
    assert doc.sections == (Section(("Heading",), "Body.", anchor="heading"),)


def test_markdown_without_h1_takes_the_filename_stem_as_title() -> None:
    # given
    text = "## Only a subheading\n\nBody text."

    # when
    doc = parse_document(text.encode(), filename="uploads/shipping-faq.md")

    # then
    assert doc.title == "shipping-faq"


def test_title_argument_overrides_the_document_title() -> None:
    # given / when
    doc = parse_document(MARKDOWN.encode(), filename="faq.md", title="Billing handbook")

    # then
    assert doc.title == "Billing handbook"


def test_markdown_unclosed_fence_runs_to_the_end() -> None:
    # given
    text = "# A\n\n```\ncode\n# still code"

    # when
    doc = parse_text(text, title="T")

    # then
    assert doc.sections == (Section(("A",), "```\ncode\n# still code\n```", anchor="a"),)


def test_markdown_indented_code_is_fenced() -> None:
    # given
    text = "Run this:\n\n    pip install x\n    x --help\n\nDone."

    # when
    doc = parse_text(text, title="T")

    # then
    assert doc.text == "Run this:\n\n```\npip install x\nx --help\n```\n\nDone."


# --- plain text -----------------------------------------------------------------------------


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


# --- HTML -----------------------------------------------------------------------------------


def test_sphinx_page_sections_anchors_and_text(sphinx_page: bytes) -> None:
    # given / when
    doc = parse_document(sphinx_page, filename="controlflow.html")

    # then
    assert doc.title == "4. More Control Flow Tools"
    assert doc.sections == (
        Section(
            ("4. More Control Flow Tools",),
            "Besides the while statement just introduced, Python uses the usual flow control "
            "statements known from other languages, with some twists.",
            anchor="more-control-flow-tools",
        ),
        Section(
            ("4. More Control Flow Tools", "4.1. if Statements"),
            "Perhaps the most well-known statement type is the if statement. For example:\n\n"
            "```\n>>> if x < 0:\n...     x = 0\n\n...     print('Negative')\n```\n\n"
            "- There can be zero or more elif parts.\n- The else part is optional.\n\n"
            "Keyword | Meaning\nelif | else if",
            anchor="if-statements",
        ),
        Section(
            ("4. More Control Flow Tools", "Built-ins", "abs(x)"),
            "Return the absolute value of a number.",
            anchor="abs",
        ),
        Section(
            ("4. More Control Flow Tools", "Built-ins"),
            "Text after the definition.",
            anchor="built-ins",
        ),
    )


def test_sphinx_page_drops_chrome_and_boilerplate(sphinx_page: bytes) -> None:
    # given / when
    text = parse_document(sphinx_page, filename="controlflow.html").text

    # then
    for junk in (
        "cookies",
        "Skip to",
        "Navigation",
        "sidebar",
        "Copyright",
        "\u00b6",
        "jquery",
        "color: red",
        "Python logo",
    ):
        assert junk not in text


def test_html_about_cookies_is_not_mistaken_for_a_cookie_banner() -> None:
    # given
    html = (
        '<div class="cookie-consent">We use cookies. OK?</div>'
        '<section id="cookie-jar-objects"><h2>Cookie Objects</h2><p>A jar of cookies.</p></section>'
    )

    # when
    doc = parse_text(html, title="http.cookies", fmt="html")

    # then
    assert doc.sections == (
        Section(("Cookie Objects",), "A jar of cookies.", anchor="cookie-jar-objects"),
    )


def test_html_prefers_main_and_uses_first_h1_without_title() -> None:
    # given
    html = (
        "<body><header><h1>Site</h1></header><aside>Ads</aside>"
        "<main><h1 id='top'>Returns</h1><p>Send it back<br>within 30 days.</p>"
        "<ol start='3'><li>Pack</li><li>Ship</li></ol></main>"
        "<footer>Contact</footer></body>"
    )

    # when
    doc = parse_document(html.encode(), filename="returns.htm")

    # then
    assert doc.title == "Returns"
    assert doc.sections == (
        Section(("Returns",), "Send it back\nwithin 30 days.\n\n3. Pack\n4. Ship", anchor="top"),
    )


def test_html_title_keeps_page_part_of_pipe_title() -> None:
    # given
    html = "<html><head><title>Refunds | Acme Help</title></head><body><p>Hi.</p></body></html>"

    # when
    doc = parse_text(html, title="", fmt="html")

    # then
    assert doc.title == "Refunds"


def test_deeply_nested_html_does_not_hit_the_recursion_limit() -> None:
    # given
    html = "<div>" * 3000 + "<p>Deep text.</p>" + "</div>" * 3000

    # when
    doc = parse_text(html, title="Deep", fmt="html")

    # then
    assert doc.text == "Deep text."


# --- PDF ------------------------------------------------------------------------------------


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


# --- parse_text and hashing -----------------------------------------------------------------


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
