"""Tests for workers.inference.base."""

from __future__ import annotations

import dataclasses

import pytest

from workers.inference.base import CitationRef, Passage, StopFilter


def test_passage_is_frozen() -> None:
    # given
    passage = Passage(ref=1, title="Returns", text="30 days.")

    # when / then
    with pytest.raises(dataclasses.FrozenInstanceError):
        passage.ref = 2  # type: ignore[misc]  # the point: assigning to a frozen field


def test_citation_ref_compares_by_value() -> None:
    # given / when / then
    assert CitationRef(ref=1, quote="a") == CitationRef(ref=1, quote="a")


def test_stop_filter_without_stops_passes_text_through() -> None:
    # given
    stops = StopFilter([])

    # when
    deltas = [stops.feed("Hel"), stops.feed("Hello"), stops.feed("Hello!", final=True)]

    # then
    assert deltas == ["Hel", "lo", "!"]
    assert stops.stopped is False


def test_stop_filter_holds_back_a_possible_stop_prefix_then_releases_it() -> None:
    # given
    stops = StopFilter(["\nQuestion:"])

    # when
    deltas = [
        stops.feed("Yes.\nQu"),
        stops.feed("Yes.\nQuite"),
        stops.feed("Yes.\nQuite", final=True),
    ]

    # then
    assert deltas == ["Yes.", "\nQuite", ""]
    assert stops.stopped is False


def test_stop_filter_cuts_at_the_earliest_stop_and_ignores_later_text() -> None:
    # given
    stops = StopFilter(["END", "\n\n"])

    # when
    first = stops.feed("ab")
    second = stops.feed("ab\n\ncdEND")
    third = stops.feed("ab\n\ncdEND more")

    # then
    assert (first, second, third) == ("ab", "", "")
    assert stops.stopped is True


def test_stop_filter_holds_back_a_half_decoded_character() -> None:
    # given
    stops = StopFilter([])

    # when
    deltas = [stops.feed("caf\ufffd"), stops.feed("café")]

    # then
    assert deltas == ["caf", "é"]


def test_stop_filter_ignores_empty_stop_strings() -> None:
    # given
    stops = StopFilter(["", "x"])

    # when
    delta = stops.feed("abc")

    # then
    assert delta == "abc"
    assert stops.stops == ["x"]
