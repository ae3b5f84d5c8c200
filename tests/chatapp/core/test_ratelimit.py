"""The Redis rate limiter (real Redis of the suite): windows, all-or-nothing, retry_after."""

from __future__ import annotations

import time

import pytest

from chatapp.core.ratelimit import Limit, Rate, RateLimited, rate_limit_hit


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/m", Rate(10, 60)),
        ("5/10s", Rate(5, 10)),
        ("100/h", Rate(100, 3600)),
        (" 3 / 2d ", Rate(3, 172800)),
        ("", Rate(0, 1)),
        ("0/m", Rate(0, 60)),
    ],
)
def test_rates_are_read_from_hits_per_period(text, rate):
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["10", "10/x", "m/10", "-1/m", "1/0s"])
def test_a_malformed_rate_is_refused(text):
    with pytest.raises(ValueError, match="a rate looks like"):
        Rate.parse(text)


def test_the_hit_past_the_limit_is_refused_with_the_wait_of_the_window(rate_limits):
    # given
    rate_limits(api_ip="3/m")
    limit = Limit("api_ip", "10.0.0.1")
    for _ in range(3):
        rate_limit_hit(limit)
    # when
    with pytest.raises(RateLimited) as refused:
        rate_limit_hit(limit)
    # then
    assert refused.value.status == 429
    assert refused.value.name == "api_ip"
    assert 59 <= refused.value.retry_after <= 60
    assert refused.value.as_dict()["error"]["code"] == "rate_limited"
    assert refused.value.as_dict()["error"]["retry_after"] == refused.value.retry_after


def test_a_new_window_lets_hits_through_again(rate_limits):
    # given
    rate_limits(api_ip="2/1s")
    limit = Limit("api_ip", "10.0.0.2")
    rate_limit_hit(limit)
    rate_limit_hit(limit)
    with pytest.raises(RateLimited) as refused:
        rate_limit_hit(limit)
    assert refused.value.retry_after == 1
    # when
    time.sleep(1.1)
    # then
    rate_limit_hit(limit)


def test_a_refused_hit_counts_against_no_limit(rate_limits):
    # given: the per-connection limit is full, the per-address one has room for one more
    rate_limits(message_connection="1/m", message_ip="2/m")
    conn_a, conn_b = Limit("message_connection", "a"), Limit("message_connection", "b")
    ip = Limit("message_ip", "10.0.0.3")
    rate_limit_hit(conn_a, ip)
    # when: refused on the connection
    with pytest.raises(RateLimited) as refused:
        rate_limit_hit(conn_a, ip)
    # then: the address was not charged for it, so another connection still gets through once
    assert refused.value.name == "message_connection"
    rate_limit_hit(conn_b, ip)
    with pytest.raises(RateLimited) as refused_ip:
        rate_limit_hit(Limit("message_connection", "c"), ip)
    assert refused_ip.value.name == "message_ip"


def test_keys_count_apart_and_a_limit_that_is_off_never_refuses(rate_limits):
    # given
    rate_limits(api_ip="1/m")
    rate_limit_hit(Limit("api_ip", "10.0.0.4"))
    # when / then
    rate_limit_hit(Limit("api_ip", "10.0.0.5"))
    for _ in range(50):
        rate_limit_hit(Limit("upload_user", "7"))


def test_without_redis_the_request_goes_through(rate_limits, settings):
    # given: nothing listens on the counters' address
    rate_limits(api_ip="1/m")
    settings.CHATAPP_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"
    # when / then
    rate_limit_hit(Limit("api_ip", "10.0.0.6"))
    rate_limit_hit(Limit("api_ip", "10.0.0.6"))
