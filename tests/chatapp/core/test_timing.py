from __future__ import annotations

from django.http import HttpResponse
from django.test import RequestFactory

from chatapp.core.timing import parse_server_timing, timing_for


def test_steps_are_reported_in_order_in_one_header():
    # given
    request = RequestFactory().get("/")
    timing = timing_for(request)
    # when
    with timing.step("auth"):
        pass
    with timing.step("search"):
        pass
    response = HttpResponse()
    timing_for(request).apply(response)
    # then
    steps = parse_server_timing(response.headers["Server-Timing"])
    assert list(steps) == ["auth", "search"]
    assert timing_for(request) is timing


def test_a_step_that_raises_is_still_recorded():
    # given
    timing = timing_for(RequestFactory().get("/"))
    # when
    try:
        with timing.step("parse"):
            raise ValueError("bad body")
    except ValueError:
        pass
    # then
    assert [name for name, _ in timing.steps] == ["parse"]


def test_no_steps_no_header():
    response = HttpResponse()
    timing_for(RequestFactory().get("/")).apply(response)
    assert "Server-Timing" not in response.headers


def test_parse_server_timing_reads_durations_and_ignores_other_params():
    assert parse_server_timing('db;desc="Postgres";dur=12.5, cache;dur=0.3, miss') == {
        "db": 12.5,
        "cache": 0.3,
    }


def test_split_moves_a_wait_timed_inside_a_step_into_its_own_step_before_it():
    # given: a 10 ms search of which the request waited 4 ms for the query vector
    timing = timing_for(RequestFactory().get("/"))
    timing.steps = [("parse", 1.0), ("search", 10.0)]
    # when
    timing.split("search", "embed", 4.0)
    # then: the steps still add up to the request's time
    assert timing.steps == [("parse", 1.0), ("embed", 4.0), ("search", 6.0)]


def test_split_never_moves_more_than_the_step_took_nor_a_negative_time():
    # given
    timing = timing_for(RequestFactory().get("/"))
    timing.steps = [("search", 3.0), ("other", 1.0)]
    # when
    timing.split("search", "embed", 5.0)
    timing.split("other", "wait", -2.0)
    # then
    assert timing.steps == [("embed", 3.0), ("search", 0.0), ("wait", 0.0), ("other", 1.0)]


def test_split_of_a_step_that_did_not_run_changes_nothing():
    timing = timing_for(RequestFactory().get("/"))
    timing.steps = [("parse", 1.0)]
    timing.split("search", "embed", 2.0)
    assert timing.steps == [("parse", 1.0)]
