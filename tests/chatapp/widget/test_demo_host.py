"""The sample host page `make run` serves on a second origin."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from chatapp.widget.demo_host import host_page, serve


def test_the_pages_load_the_loader_from_chatapp_with_the_given_attributes():
    # when
    page = host_page("/page2.html", "http://127.0.0.1:8000", {"accent": "#36c"})
    # then
    assert page is not None
    assert '<script src="http://127.0.0.1:8000/widget.js" async' in page
    assert 'data-accent="#36c"' in page
    assert "Sample shop: delivery" in page
    assert host_page("/nope", "http://127.0.0.1:8000") is None


def test_the_server_answers_over_http():
    # given
    server = serve("127.0.0.1", 0, "http://127.0.0.1:8000")
    port = server.server_address[1]
    try:
        # when
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            body = response.read().decode()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/missing")
    finally:
        server.shutdown()
        server.server_close()
    # then
    assert "http://127.0.0.1:8000/widget.js" in body
    assert missing.value.code == 404
