from __future__ import annotations

import pytest

from workers.inference.base import Passage
from workers.inference.grounding import (
    asks_for_figure,
    bare_answer,
    has_figure,
    is_lead_in,
    is_yes_no_question,
    lexical_support,
    marker_as_link,
    restates_question,
    sentence_polarity,
    unsupported_ranges,
)

REFUNDS = (
    "We inspect your return within 3 business days. The money appears 5\u201310 business days "
    "after we issue the refund."
)


@pytest.mark.parametrize(
    ("claim", "missing"),
    [
        # each end is in the passage, the span is not
        ("Your refund arrives within 3 to 5 business days. [2]", ("3-5",)),
        ("It takes between 3 and 5 days.", ("3-5",)),
        # the passage's en dash and the claim's hyphen or "to" are the same range
        ("The money appears 5-10 business days after the refund. [1]", ()),
        ("The money appears 5 to 10 business days later.", ()),
        # no range at all, or a date-like token that is not a span
        ("We inspect it within 3 business days.", ()),
        ("Since 2024-01 we refund faster.", ()),
    ],
)
def test_a_range_must_be_a_range_in_the_sources(claim, missing):
    assert unsupported_ranges(claim, [REFUNDS]) == missing


def test_a_range_in_the_question_counts_as_given():
    assert unsupported_ranges("Yes, 3 to 5 days is normal.", ["is 3 to 5 days normal?"]) == ()


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("To start a return, go to [1] or [2] and follow the instructions.", True),
        ("Then, visit [2] and enter your order number.", True),
        ("You can email [3].", True),
        ("Returns are free within 30 days [1].", False),
        ("Start your return in the app [1], then print the label [2].", False),
    ],
)
def test_a_marker_that_stands_in_for_a_page_or_address(sentence, expected):
    assert marker_as_link(sentence) is expected


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("how many letters can you engrave on the oak lamp", True),
        ("How much is delivery to Germany?", True),
        ("how long does the reset link work for?", True),
        ("what's the fee for a paper invoice", True),
        ("what does lumen plus cost per year", True),
        # yes/no: "No, there is no fee" answers it without a figure
        ("is there a fee for returns?", False),
        ("can i pay in installments?", False),
        ("how do I start a return?", False),
    ],
)
def test_which_questions_ask_for_a_figure(question, expected):
    assert asks_for_figure(question) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Engraving is up to 30 characters. [1]", True),
        ("It takes two weeks.", True),
        ("Delivery is free over the threshold.", True),
        ("You can add a personal engraving to any oak lamp. [1]", False),
    ],
)
def test_has_figure(text, expected):
    assert has_figure(text) is expected


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("does a broken bulb need to be sent back for a warranty replacement", True),
        ("Can I return it without the person knowing?", True),
        ("so, is the hub compatible with 5 GHz wifi?", True),
        ("how do i send something back", False),
        ("my bulbs flicker on the old dimmer", False),
    ],
)
def test_yes_no_questions(question, expected):
    assert is_yes_no_question(question) is expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Yes, a broken bulb needs to be sent back. [1]", "yes"),
        ("No, you don't need to send it back.", "no"),
        ("Unfortunately, no: accidental damage is not covered.", "no"),
        ("Nope.", "no"),
        ("Notice that returns are free.", ""),
        ("The warranty covers 2 years.", ""),
    ],
)
def test_sentence_polarity(sentence, expected):
    assert sentence_polarity(sentence) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The app says too many attempts and won't let me log in. [1]", True),
        ("Your bulbs flicker on the dimmer.", True),
        ("Yes, the app won't let you log in after too many attempts.", False),
        ("Wait 15 minutes and try again. [1]", False),
        ("It flickers.", False),  # too short to tell
    ],
)
def test_restates_question(sentence, expected):
    question = "app says too many attempts and won't let me log in, my bulbs flicker on the dimmer"
    assert restates_question(sentence, question) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes, there will be a fee. [1]", True),
        ("No, there won't be a late fee.", True),  # "late" is the question's, "won't" no word
        ("Yes, there will be a fee of 5 GBP. [1]", False),
        ("Yes, there will be a fee. [1] It is 5 GBP.", False),  # the answer went on
        ("Yes, Klarna. [1]", False),  # one word of its own is a fact
        ("There will be a fee. [1]", False),  # no yes or no: restates_question's matter
        ("Yes.", True),
        ("Yes, there will be a fee. This is stated in passage [1].", True),  # a pointer, no fact
        ("Yes, according to the passage, there will be a fee of 5 GBP. [1]", False),
    ],
)
def test_bare_answer(text, expected):
    assert bare_answer(text, "my bill payment is a week late, will there be a fee?") is expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("You need to consider the following:", True),
        ("Do this: [1]", True),  # a citation does not stand for what was announced
        ("Here is how: open the app. [1]", False),
        ("Open Settings.", False),
    ],
)
def test_is_lead_in(sentence, expected):
    assert is_lead_in(sentence) is expected


GERMANY = Passage(
    ref=1,
    title="Delivery costs",
    text="Standard delivery to Germany costs 4.95 EUR. Express delivery is 9.95 EUR.",
)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # copied from the passage: every content word is there
        ("The delivery cost to Germany is 4.95 EUR. [1]", 1.0),
        # a leading "Yes," cannot be vouched for by words and is left out
        ("Yes, delivery to Germany costs 4.95 EUR.", 1.0),
        # the same words with a "not" the passage lacks say the opposite
        ("Delivery to Germany is not 4.95 EUR.", 0.0),
        # half the words are the passage's
        ("Germany delivery is tracked by courier.", pytest.approx(2 / 4)),
    ],
)
def test_lexical_support(sentence, expected):
    assert lexical_support(sentence, [GERMANY]) == expected
