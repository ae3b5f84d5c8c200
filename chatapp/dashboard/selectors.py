"""Reads for the dashboard over time: a date range, per-day aggregates of conversations and turns.

Days are UTC calendar days (``TIME_ZONE``). Every series has one value per day of the range, days
without data included (0 for counts, None for times), so charts and tables line up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import Avg, Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from chatapp.assistant.models import PipelineRun
from chatapp.conversations.models import Conversation, Participant
from chatapp.core.errors import ApplicationError
from chatapp.feedback.models import AnswerFeedback, ConversationRating

DEFAULT_DAYS = 14
MAX_DAYS = 366  # charts stay readable; CSV exports take any range
ERR_RANGE = "start must be a date (YYYY-MM-DD) on or before end, at most {days} days apart."


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days from ``start`` to ``end``, both included."""

    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the range (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)


def date_range_parse(
    start: str | None, end: str | None, *, max_days: int | None = MAX_DAYS
) -> DateRange:
    """The range a form or query string asks for; the last ``DEFAULT_DAYS`` days by default.

    Raises:
        ApplicationError: ``invalid_request`` (field ``start``) for a bad date or range.
    """
    today = timezone.now().astimezone(UTC).date()
    try:
        end_day = date.fromisoformat(end) if end else today
        start_day = (
            date.fromisoformat(start) if start else end_day - timedelta(days=DEFAULT_DAYS - 1)
        )
    except ValueError:
        start_day, end_day = today, today - timedelta(days=1)  # fails the check below
    span = (end_day - start_day).days + 1
    # date.max has no next day to end the range at.
    if span < 1 or end_day >= date.max or (max_days is not None and span > max_days):
        detail = ERR_RANGE.format(days=max_days or "any number of")
        raise ApplicationError(
            "invalid_request", detail, fields=[{"field": "start", "message": detail}]
        )
    return DateRange(start=start_day, end=end_day)


@dataclass(frozen=True)
class ConversationDays:
    """Conversations started on each day of the range, by how they were resolved."""

    days: list[date]
    total: list[int]
    by_bot: list[int]  # never handed off, no agent joined
    by_people: list[int]  # an agent joined
    unresolved: list[int]  # handed off, no agent joined (still waiting, or left)
    handoff_rate: list[float | None]  # handed off / total; None on days without conversations


def _handed_off() -> Q:
    """A conversation that went to people: a hand-off reason, an agent, or a failed turn.

    The turn counts too because a reason is cleared when an agent hands it back to the bot.
    """
    return ~Q(handoff_reason="") | Q(has_agent=True) | Q(has_failed_run=True)


def conversation_days(period: DateRange) -> ConversationDays:
    """Per-day counts of conversations started in ``period`` (one query)."""
    agent = Participant.objects.filter(conversation=OuterRef("pk"), role=Participant.Role.AGENT)
    failed = PipelineRun.objects.filter(
        conversation=OuterRef("pk"),
        status__in=(PipelineRun.Status.ESCALATED, PipelineRun.Status.FAILED),
    )
    rows = (
        Conversation.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
        .annotate(has_agent=Exists(agent), has_failed_run=Exists(failed))
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(
            total=Count("pk"),
            people=Count("pk", filter=Q(has_agent=True)),
            handed=Count("pk", filter=_handed_off()),
        )
        .order_by()
    )
    by_day = {row["day"]: row for row in rows}
    days = period.days
    total = [by_day[d]["total"] if d in by_day else 0 for d in days]
    people = [by_day[d]["people"] if d in by_day else 0 for d in days]
    handed = [by_day[d]["handed"] if d in by_day else 0 for d in days]
    return ConversationDays(
        days=days,
        total=total,
        by_bot=[t - h for t, h in zip(total, handed, strict=True)],
        by_people=people,
        unresolved=[h - p for h, p in zip(handed, people, strict=True)],
        handoff_rate=[(h / t if t else None) for t, h in zip(total, handed, strict=True)],
    )


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    count: int


def handoff_reasons(period: DateRange) -> list[ReasonCount]:
    """Why conversations started in ``period`` went to people, most frequent first (one query).

    Counted by each conversation's current hand-off reason, as the dashboard's counters are.
    """
    rows = (
        Conversation.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
        .exclude(handoff_reason="")
        .values("handoff_reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "handoff_reason")
    )
    return [ReasonCount(reason=row["handoff_reason"], count=row["n"]) for row in rows]


@dataclass(frozen=True)
class TimingDays:
    """Per-day percentiles of turn timings, in milliseconds (None: no turn that day)."""

    days: list[date]
    first_token_p50: list[float | None]
    first_token_p95: list[float | None]
    turn_p50: list[float | None]
    turn_p95: list[float | None]
    turns: list[int]


_TIMING_SQL = """
SELECT (started_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS turns,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_token_at - started_at))
         FILTER (WHERE first_token_at IS NOT NULL) AS ft50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM first_token_at - started_at))
         FILTER (WHERE first_token_at IS NOT NULL) AS ft95,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
         FILTER (WHERE finished_at IS NOT NULL) AS t50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
         FILTER (WHERE finished_at IS NOT NULL) AS t95
FROM {table}
WHERE started_at >= %s AND started_at < %s
GROUP BY 1
"""


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds) * 1000.0, 1)


def timing_days(period: DateRange) -> TimingDays:
    """Per-day p50/p95 of time to first token and of whole turns (one query).

    Postgres ``percentile_cont`` interpolates, as ``bench.common.percentile`` does.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _TIMING_SQL.format(table=PipelineRun._meta.db_table), [period.since, period.until]
        )
        rows = {row[0]: row for row in cursor.fetchall()}
    days = period.days

    def column(i: int) -> list[float | None]:
        return [_ms(rows[d][i]) if d in rows else None for d in days]

    return TimingDays(
        days=days,
        turns=[rows[d][1] if d in rows else 0 for d in days],
        first_token_p50=column(2),
        first_token_p95=column(3),
        turn_p50=column(4),
        turn_p95=column(5),
    )


@dataclass(frozen=True)
class FeedbackDays:
    """Per-day visitor feedback: CSAT average and the share of thumbs up (None: none that day)."""

    days: list[date]
    csat_average: list[float | None]
    csat_count: list[int]
    thumbs_up_share: list[float | None]
    thumbs_count: list[int]


def feedback_days(period: DateRange) -> FeedbackDays:
    """CSAT scores and thumbs per UTC day of their latest rating (two queries)."""
    csat = {
        row["day"]: row
        for row in ConversationRating.objects.filter(
            updated_at__gte=period.since, updated_at__lt=period.until
        )
        .annotate(day=TruncDate("updated_at"))
        .values("day")
        .annotate(avg=Avg("score"), n=Count("pk"))
    }
    thumbs = {
        row["day"]: row
        for row in AnswerFeedback.objects.filter(
            updated_at__gte=period.since, updated_at__lt=period.until
        )
        .annotate(day=TruncDate("updated_at"))
        .values("day")
        .annotate(up=Count("pk", filter=Q(rating=AnswerFeedback.Rating.UP)), n=Count("pk"))
    }
    days = period.days
    return FeedbackDays(
        days=days,
        csat_average=[round(float(csat[d]["avg"]), 2) if d in csat else None for d in days],
        csat_count=[csat[d]["n"] if d in csat else 0 for d in days],
        thumbs_up_share=[thumbs[d]["up"] / thumbs[d]["n"] if d in thumbs else None for d in days],
        thumbs_count=[thumbs[d]["n"] if d in thumbs else 0 for d in days],
    )
