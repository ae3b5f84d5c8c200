"""Choosing knowledge bases from their best hits (pure logic)."""

from __future__ import annotations

from chatapp.knowledge.routing import choose_routes

NAMES = {1: "Help centre", 2: "Handbook", 3: "API docs"}


def test_bases_within_the_margin_of_the_best_are_chosen_best_first():
    # when
    routes = choose_routes({1: 0.62, 2: 0.55, 3: 0.30}, NAMES, {1: 5, 2: 4, 3: 3}, margin=0.15)
    # then
    assert [(r.name, r.chosen) for r in routes] == [
        ("Help centre", True),
        ("Handbook", True),
        ("API docs", False),
    ]
    assert [r.hits for r in routes] == [5, 4, 3]


def test_a_base_without_a_hit_in_the_pool_is_not_chosen():
    routes = choose_routes({2: 0.7}, NAMES, {2: 12}, margin=0.15)
    assert {r.name: r.chosen for r in routes} == {
        "Handbook": True,
        "Help centre": False,
        "API docs": False,
    }
    assert {r.name: r.relevance for r in routes}["API docs"] == 0.0


def test_nothing_found_anywhere_chooses_nothing():
    routes = choose_routes({}, NAMES, {}, margin=0.15)
    assert not any(r.chosen for r in routes)


def test_a_zero_margin_keeps_only_the_best_base_and_ties():
    routes = choose_routes({1: 0.5, 2: 0.5, 3: 0.49}, NAMES, {}, margin=0.0)
    assert [r.name for r in routes if r.chosen] == ["Help centre", "Handbook"]
