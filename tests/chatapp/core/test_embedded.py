"""The embedded Redis: restarted on the same port, with the queued messages it held."""

from __future__ import annotations

import redis

from chatapp.core.embedded import ensure_redis, stop_redis


def test_a_restarted_redis_keeps_its_port_and_its_queued_messages(tmp_path):
    # given: a message waiting in a queue
    url, started = ensure_redis(tmp_path)
    try:
        client = redis.Redis.from_url(url)  # connected while the server stops (TIME_WAIT)
        client.lpush("answering", b"a stage message")
        # when
        stop_redis(tmp_path)
        url_again, started_again = ensure_redis(tmp_path)
        waiting = redis.Redis.from_url(url_again).lrange("answering", 0, -1)
    finally:
        stop_redis(tmp_path)
    # then
    assert (started, started_again) == (True, True)
    assert url_again == url
    assert waiting == [b"a stage message"]


def test_without_the_append_only_file_a_restart_starts_empty(tmp_path):
    # given
    url, _ = ensure_redis(tmp_path, append_only=False)
    try:
        redis.Redis.from_url(url).lpush("answering", b"a stage message")
        # when
        stop_redis(tmp_path)
        url_again, _ = ensure_redis(tmp_path, append_only=False)
        waiting = redis.Redis.from_url(url_again).lrange("answering", 0, -1)
    finally:
        stop_redis(tmp_path)
    # then
    assert url_again == url
    assert waiting == []
