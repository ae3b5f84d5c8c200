"""Tests for Markdown parsing: heading paths, anchors, titles, code and links."""

from __future__ import annotations

from chatapp.knowledge.ingest.parsers import Section, parse_document, parse_text

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
