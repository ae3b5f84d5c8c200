"""Tests for HTML parsing: Sphinx pages, dropped chrome and banners, titles, nesting."""

from __future__ import annotations

from chatapp.knowledge.ingest.parsers import Section, parse_document, parse_text


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
