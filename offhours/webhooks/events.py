"""The events offhours emits, and the retry schedule of their delivery. Pure: the workflow uses the
schedule, the activities and the API the catalogue.

Every event is `{"id", "type", "created_at", "data"}`; `data` holds ids, the job, the pipeline and
its version, status and stage, and the application's own sequence number (1, 2, 3 ... in the order
the events happened to it, across types), never a candidate's name, email or words."""

from __future__ import annotations

from datetime import timedelta

EVENT_TYPES: dict[str, str] = {
    "application.created": "A candidate was invited to a job.",
    "application.submitted": "The candidate submitted their answers.",
    "application.stage_changed": "The application moved to another stage of its pipeline.",
    "scorecard.submitted": "A reviewer submitted (or corrected) a scorecard.",
    "decision.made": "A recruiter approved or rejected the application.",
    "application.closed": "The application ended: approved, rejected, expired or withdrawn.",
    "application.erased": "The application's personal data was erased.",
}

# Waits after each failed attempt (Standard Webhooks' suggested schedule): ten attempts over about
# three days, the first at once. A receiver's Retry-After lengthens the wait it
# follows (up to 24 h), never shortens it: a proxy answering `Retry-After: 0` during a deploy must not
# use up the schedule in seconds.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
LONGEST_WAIT = timedelta(hours=24)


def wait_after(number: int, retry_after_seconds: float | None) -> timedelta | None:
    """The wait after failed attempt `number` (1-based), None after the last one."""
    if number >= MAX_ATTEMPTS:
        return None
    scheduled = RETRY_SCHEDULE[number - 1]
    if retry_after_seconds is not None:  # later than the schedule if asked, never sooner
        return min(max(timedelta(seconds=retry_after_seconds), scheduled), max(LONGEST_WAIT, scheduled))
    return scheduled


def unknown_types(types: list[str]) -> list[str]:
    return [t for t in types if t not in EVENT_TYPES]
