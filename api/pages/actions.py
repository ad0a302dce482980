"""What the application page needs for its actions beyond the decision: the interview slots to
offer while the stage is scheduling, the outcome of a custom stage that waits for one, the feedback
held for editing, and the thread with the candidate."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, select

from api.services import messages as thread
from offhours.models import Application, CandidateFeedback
from pipelines.base import Pipeline
from pipelines.stages import Custom

SLOT_FIELDS = 4


def current_stage(pipeline: Pipeline, application: Application) -> Any:
    return next((stage for stage in pipeline.stages if stage.id == application.stage), None)


def held_feedback(session: Session, application: Application) -> CandidateFeedback | None:
    return session.exec(
        select(CandidateFeedback).where(
            CandidateFeedback.application_id == application.id,
            CandidateFeedback.released == False,  # noqa: E712 (SQL)
        )
    ).first()


def context(
    session: Session, application: Application, pipeline: Pipeline, timezone: str, forms: Mapping[str, Any]
) -> dict[str, Any]:
    stage = current_stage(pipeline, application)
    waiting = application.closed_at is None
    return {
        "scheduling": waiting and stage is not None and stage.kind == "scheduling",
        "custom_stage": stage if waiting and isinstance(stage, Custom) and stage.workflow else None,
        # Feedback can follow the decision (internship): the application is closed as approved and
        # its workflow still waits for the release.
        "held": held_feedback(session, application)
        if stage is not None and stage.kind == "feedback"
        else None,
        "thread": thread.messages_of(session, application),
        "slot_fields": SLOT_FIELDS,
        "slot_zone": timezone or "UTC",
        "errors": {},
        "values": {},
        **forms,
    }


class SlotError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def slots_from(values: Mapping[str, str]) -> list[str]:
    """The slots typed (datetime-local, in the zone chosen) as ISO times with their offset."""
    try:
        zone = ZoneInfo(values.get("timezone", "") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise SlotError("timezone", "Enter a time zone such as Europe/Paris.") from None
    slots: list[str] = []
    for index in range(1, SLOT_FIELDS + 1):
        typed = values.get(f"slot-{index}", "")
        if not typed:
            continue
        try:
            moment = datetime.fromisoformat(typed)
        except ValueError:
            raise SlotError(f"slot-{index}", "Enter a date and a time.") from None
        slots.append(moment.replace(tzinfo=zone).isoformat())
    if not slots:
        raise SlotError("slot-1", "Offer at least one slot.")
    return slots
