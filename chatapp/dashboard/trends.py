"""The charts of the dashboard's "over time" page, built from the selectors' per-day series.

One more chart is one more ``Chart`` appended in ``trends_page`` from a selector that returns one
value per day of ``period.days``.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatapp.dashboard import selectors
from chatapp.dashboard.charts import Chart, Series, day_labels
from chatapp.dashboard.selectors import DateRange, ReasonCount


@dataclass(frozen=True)
class TrendsPage:
    period: DateRange
    charts: list[Chart]
    reasons: list[ReasonCount]
    conversations: int
    turns: int


def trends_page(period: DateRange) -> TrendsPage:
    """Every chart of the page for ``period`` (five queries)."""
    conversations = selectors.conversation_days(period)
    timings = selectors.timing_days(period)
    feedback = selectors.feedback_days(period)
    labels = day_labels(period.days)
    charts = [
        Chart(
            slug="conversations",
            title="Conversations per day, by who resolved them",
            description=(
                f"Stacked bars, one per day from {labels[0]} to {labels[-1]}: conversations "
                "the bot resolved alone, those an agent joined, and those handed off that no "
                "agent joined."
            ),
            labels=labels,
            kind="stacked",
            series=[
                Series("Resolved by the bot", conversations.by_bot, "bot"),
                Series("Resolved by people", conversations.by_people, "people"),
                Series("Handed off, no agent yet", conversations.unresolved, "unresolved"),
            ],
        ),
        Chart(
            slug="handoff-rate",
            title="Hand-off rate per day",
            description="Share of the day's new conversations that went to people.",
            labels=labels,
            percent=True,
            series=[Series("Hand-off rate", conversations.handoff_rate, "rate")],
        ),
        Chart(
            slug="first-token",
            title="Time to first token, p50 and p95",
            description="Per day, from a turn's start to the answerer's first token.",
            labels=labels,
            unit="ms",
            series=[
                Series("p50", timings.first_token_p50, "p50"),
                Series("p95", timings.first_token_p95, "p95"),
            ],
        ),
        Chart(
            slug="turn-time",
            title="Turn time, p50 and p95",
            description="Per day, from a turn's start to its end (answered or handed off).",
            labels=labels,
            unit="ms",
            series=[
                Series("p50", timings.turn_p50, "p50"),
                Series("p95", timings.turn_p95, "p95"),
            ],
        ),
        Chart(
            slug="csat",
            title="CSAT per day (average of 1-5)",
            description="Per day, the average score visitors gave closed conversations.",
            labels=labels,
            top=5.0,
            decimals=1,
            series=[Series("CSAT", feedback.csat_average, "csat")],
        ),
        Chart(
            slug="thumbs",
            title="Thumbs up share per day",
            description="Per day, the share of rated bot answers that got a thumbs up.",
            labels=labels,
            percent=True,
            series=[Series("Thumbs up", feedback.thumbs_up_share, "thumbs")],
        ),
    ]
    return TrendsPage(
        period=period,
        charts=charts,
        reasons=selectors.handoff_reasons(period),
        conversations=sum(conversations.total),
        turns=sum(timings.turns),
    )
