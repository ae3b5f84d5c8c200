from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from chatapp.core.errors import ApplicationError
from chatapp.dashboard.selectors import (
    DateRange,
    ReasonCount,
    conversation_days,
    date_range_parse,
    feedback_days,
    handoff_reasons,
    timing_days,
)
from tests.chatapp.dashboard.trend_data import DAY1, DAY3, known_conversations, turn_on

pytestmark = pytest.mark.django_db

MARCH = DateRange(start=date(2026, 3, 2), end=date(2026, 3, 4))


def test_the_default_range_is_the_last_14_days():
    # when
    period = date_range_parse(None, None)
    # then
    assert period.end == timezone.now().date()
    assert len(period.days) == 14


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-05", "2026-03-04"),
        ("yesterday", None),
        ("2025-01-01", "2026-03-04"),
        ("2026-01-01", "9999-12-31"),
    ],
)
def test_a_bad_range_is_refused(start, end):
    # when
    with pytest.raises(ApplicationError) as exc:
        date_range_parse(start, end, max_days=None if end == "9999-12-31" else 366)
    # then
    assert exc.value.code == "invalid_request"
    assert exc.value.extra["fields"][0]["field"] == "start"


def test_conversation_days_counts_by_resolution_in_one_query(django_assert_num_queries):
    # given
    known_conversations()
    # when
    with django_assert_num_queries(1):
        days = conversation_days(MARCH)
    # then
    assert days.days == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
    assert days.total == [4, 0, 1]
    assert days.by_bot == [2, 0, 0]
    assert days.by_people == [1, 0, 0]
    assert days.unresolved == [1, 0, 1]
    assert days.handoff_rate == [0.5, None, 1.0]


def test_a_range_leaves_out_the_days_around_it():
    # given
    known_conversations()
    # when
    days = conversation_days(DateRange(start=date(2026, 3, 3), end=date(2026, 3, 3)))
    # then
    assert days.total == [0]


def test_handoff_reasons_most_frequent_first(django_assert_num_queries):
    # given
    known_conversations()
    # when
    with django_assert_num_queries(1):
        reasons = handoff_reasons(MARCH)
    # then
    assert reasons == [
        ReasonCount(reason="no_relevant_passages", count=1),
        ReasonCount(reason="visitor_request", count=1),
    ]


def test_timing_days_gives_interpolated_percentiles_in_one_query(django_assert_num_queries):
    # given: day 1 first tokens 100..500 ms and turns 1000..5000 ms; day 3 one turn
    for i in range(1, 6):
        turn_on(DAY1 + timedelta(minutes=i), ttft_ms=100 * i, total_ms=1000 * i)
    turn_on(DAY3, ttft_ms=None, total_ms=None)  # still running: counted, no times
    # when
    with django_assert_num_queries(1):
        timings = timing_days(MARCH)
    # then
    assert timings.turns == [5, 0, 1]
    assert timings.first_token_p50 == [300.0, None, None]
    assert timings.first_token_p95 == [480.0, None, None]
    assert timings.turn_p50 == [3000.0, None, None]
    assert timings.turn_p95 == [4800.0, None, None]


def test_feedback_days_average_csat_and_thumbs_up_share_per_day(django_assert_num_queries):
    # given: day 1 two CSAT scores (4, 5) and three thumbs (2 up); day 3 one thumbs down
    from chatapp.feedback.models import AnswerFeedback, ConversationRating
    from tests.factories.conversations import make_conversation
    from tests.factories.feedback import make_answer

    def rate(when, **fields):
        conversation, _ = make_conversation()
        if "score" in fields:
            csat = ConversationRating.objects.create(conversation=conversation, **fields)
            ConversationRating.objects.filter(pk=csat.pk).update(updated_at=when)
        else:
            message, _ = make_answer(conversation)
            thumbs = AnswerFeedback.objects.create(
                message=message, conversation=conversation, **fields
            )
            AnswerFeedback.objects.filter(pk=thumbs.pk).update(updated_at=when)

    for score in (4, 5):
        rate(DAY1, score=score)
    for rating in ("up", "up", "down"):
        rate(DAY1, rating=rating)
    rate(DAY3, rating="down")

    # when
    with django_assert_num_queries(2):
        days = feedback_days(MARCH)

    # then
    assert days.csat_average == [4.5, None, None]
    assert days.csat_count == [2, 0, 0]
    assert days.thumbs_up_share == [pytest.approx(2 / 3), None, 0.0]
    assert days.thumbs_count == [3, 0, 1]
