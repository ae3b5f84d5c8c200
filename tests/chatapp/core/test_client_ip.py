"""Which address limits and lockouts are kept by, with and without trusted proxies."""

from __future__ import annotations

import pytest

from chatapp.core.client_ip import client_ip, scope_client_ip


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "10.0.0.9", "1.2.3.4", "10.0.0.9"),  # no proxy: the header is the client's word
        (1, "10.0.0.9", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # what our one proxy saw
        (2, "10.0.0.9", "6.6.6.6, 1.2.3.4, 10.0.0.8", "1.2.3.4"),
        (1, "10.0.0.9", None, "10.0.0.9"),
        (2, "10.0.0.9", "1.2.3.4", "1.2.3.4"),
        (0, None, None, "unknown"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(
    settings, proxies, remote, forwarded, expected
):
    settings.CHATAPP_PROXY_COUNT = proxies
    assert client_ip(remote=remote, forwarded_for=forwarded) == expected


def test_a_scope_gives_its_peer_and_forwarded_header(settings):
    settings.CHATAPP_PROXY_COUNT = 1
    scope = {"client": ("10.0.0.9", 5000), "headers": [(b"x-forwarded-for", b"1.2.3.4")]}
    assert scope_client_ip(scope) == "1.2.3.4"
    assert scope_client_ip({"client": None, "headers": []}) == "unknown"
