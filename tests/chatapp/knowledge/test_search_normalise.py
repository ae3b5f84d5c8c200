from __future__ import annotations

import pytest

from chatapp.knowledge import selectors as sel
from chatapp.knowledge.selectors.normalise import (
    query_normalise,
    strip_false_start,
    strip_fillers,
)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("how do I — sorry, what's the fee for late payment?", "what's the fee for late payment?"),
        ("how do i reset... no wait, how long does the link work?", "how long does the link work?"),
        ("what port, I mean which port does ssh use?", "which port does ssh use?"),
        ("can I pay by — actually, do you take PayPal?", "do you take PayPal?"),
    ],
)
def test_a_false_start_before_a_self_correction_is_dropped(typed, meant):
    # when
    kept = strip_false_start(typed)
    # then
    assert kept == meant


@pytest.mark.parametrize(
    "typed",
    [
        "sorry, can I return a lamp?",  # politeness at the start, not a correction
        "what does it cost — sorry, why?",  # too little after the marker to be the question
        "is the actual price shown at checkout?",  # "actual" is not "actually"
    ],
)
def test_text_without_a_real_correction_is_kept_whole(typed):
    # when
    kept = strip_false_start(typed)
    # then
    assert kept == typed


def test_fillers_are_dropped_and_content_words_kept():
    # given
    typed = "uh, hi, quick question: how long do, um, refunds take? thanks in advance"
    # when
    cleaned = strip_fillers(typed)
    # then
    assert cleaned == "how long do refunds take?"


@pytest.mark.parametrize(
    "typed",
    [
        "what does the router look like?",
        "which is the right port for ssh",
        "is it likely to okra",
    ],
)
def test_filler_words_used_as_content_stay(typed):
    # when
    cleaned = strip_fillers(typed)
    # then
    assert cleaned == typed


def test_a_query_of_fillers_only_is_left_as_it_was():
    # when
    cleaned = query_normalise("ok thanks")
    # then
    assert cleaned == "ok thanks"


def test_normalise_drops_fillers_and_cuts_the_false_start_only_when_asked():
    # given
    typed = "uh, how do I — sorry, what's the fee for, like, late payment? thx!"
    # when
    default = query_normalise(typed)
    cut = query_normalise(typed, false_start=True)
    # then
    assert default == "how do I — sorry, what's the fee for late payment?"
    assert cut == "what's the fee for late payment?"


def test_a_correction_that_leans_on_its_start_keeps_it_by_default():
    # given: the correction only makes sense with what came before (handbook-chat)
    typed = "how do I list what a package put on disk — sorry, the opposite: which package owns it?"
    # when / then
    assert query_normalise(typed) == typed
    assert query_normalise(typed, false_start=True) == "the opposite: which package owns it?"


def test_query_clean_normalises_only_when_asked(settings):
    # given
    typed = "um, how do I — sorry, where is my parcel?"
    settings.CHATAPP_RETRIEVAL_NORMALISE_QUERY = True
    # when
    settings.CHATAPP_RETRIEVAL_STRIP_FALSE_START = False
    by_default = sel.query_clean(typed)
    settings.CHATAPP_RETRIEVAL_STRIP_FALSE_START = True
    with_cut = sel.query_clean(typed)
    terms_with_cut = sel.query_terms(typed)
    raw = sel.query_clean(typed, conversational=False)
    # then
    assert by_default == "how do I — sorry, where is my parcel?"
    assert with_cut == "where is my parcel?"
    assert raw == typed
    assert terms_with_cut == ["where", "is", "my", "parcel"]
