"""The widget's origin rules: how an admin's entry is stored and which page origins it admits."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from chatapp.widget.validators import origin_matches, origin_normalize


@pytest.mark.parametrize(
    ("entered", "stored"),
    [
        ("https://Shop.Example.com/", "https://shop.example.com"),
        ("https://shop.example.com:443", "https://shop.example.com"),
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
        ("http://localhost:80", "http://localhost"),
        ("  https://*.example.com ", "https://*.example.com"),
        ("http://[::1]:8001", "http://[::1]:8001"),
    ],
)
def test_an_origin_is_stored_as_a_browser_sends_it(entered, stored):
    assert origin_normalize(entered) == stored


@pytest.mark.parametrize(
    "entered",
    [
        "shop.example.com",
        "ftp://shop.example.com",
        "https://shop.example.com/help",
        "https://shop.example.com?x=1",
        "https://user@shop.example.com",
        "https://shop.*.com",
        "https://exa mple.com",
        "https://example.com:99999",
        "*",
        "",
    ],
)
def test_anything_but_an_origin_is_refused(entered):
    with pytest.raises(ValidationError) as caught:
        origin_normalize(entered)
    assert caught.value.code == "invalid_origin"


def test_an_origin_matches_exactly_or_as_a_subdomain_of_a_wildcard():
    # given
    allowed = ["https://*.example.com", "http://127.0.0.1:8001"]
    # then
    assert origin_matches("https://shop.example.com", allowed)
    assert origin_matches("https://a.b.example.com", allowed)
    assert origin_matches("http://127.0.0.1:8001", allowed)
    assert not origin_matches("https://example.com", allowed)  # the wildcard is subdomains only
    assert not origin_matches("http://shop.example.com", allowed)  # scheme differs
    assert not origin_matches("https://evilexample.com", allowed)
    assert not origin_matches("http://127.0.0.1:8002", allowed)
    assert not origin_matches("null", allowed)  # sandboxed frames, file:// pages
