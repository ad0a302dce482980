"""The moment an application last changed, as integrations read it: `updated_at` moves on with every
change the staff API shows (status and stage, answers, assessments, review assignments, scorecards,
scores, decisions, feedback, bookings, messages, privacy), stamped on the wall clock as the change
is written, and never backwards: the application list's cursor and `updated_after` walk it."""

from __future__ import annotations

from datetime import timedelta

from offhours.models import Application, utcnow

TICK = timedelta(microseconds=1)


def touch(application: Application) -> Application:
    """Mark the application changed now: later than any time it was marked before, even should the
    clock step back or a workflow's time run ahead of it."""
    application.updated_at = max(utcnow(), application.updated_at + TICK)
    return application
