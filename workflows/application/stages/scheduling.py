"""Scheduling a live interview: staff offer slots (reminded when they are late), the candidate picks
one, the booking is confirmed with a calendar invitation and reminded before it starts."""

from __future__ import annotations

import json
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import ApplicationState, SaveBooking, SlotOffer, SlotPick
    from offhours.durations import in_words
    from pipelines.stages import Scheduling

from ..base import ApplicationBase, Closed, Status, conflict, invalid


class SchedulingStage(ApplicationBase):
    async def _run_scheduling(self, stage: Scheduling) -> None:
        state = self._scheduling
        await self._record_status(Status.in_review, stage_id=stage.id)
        async with self._checking_in(stage.id):
            offer_by = workflow.now() + timedelta(seconds=stage.offer_within)
            if not await self._wait(lambda: bool(state.slots), offer_by) and self._pipeline.contact:
                await self._email(
                    f"slots-needed-{stage.id}",
                    "slots_needed",
                    to_staff=self._pipeline.contact,
                    waiting=in_words(stage.offer_within),
                )
            await self._wait(lambda: bool(state.slots))
        self._candidate_heard_news()
        await self._email(
            f"slots-offered-{stage.id}",
            "slots_offered",
            slots=json.dumps([s.isoformat() for s in state.slots]),
        )
        pick_by = workflow.now() + timedelta(seconds=stage.pick_within)
        if not await self._wait(lambda: state.booked is not None, pick_by):
            self._outcome = Status.expired
            await self._record_status(Status.expired, "closed")
            await self._email(f"scheduling-missed-{stage.id}", "scheduling_missed")
            raise Closed
        assert state.booked is not None
        slot = state.booked
        await self._db(
            "save_booking",
            SaveBooking(self._input.application_id, stage.id, slot, stage.duration_minutes, workflow.now()),
        )
        details = {
            "slot": slot.isoformat(),
            "title": stage.title,
            "duration_minutes": str(stage.duration_minutes),
            "location": stage.location,
        }
        await self._email(f"slot-confirmed-{stage.id}", "slot_confirmed", attach_ics=True, details=details)
        remind_at = slot - timedelta(seconds=stage.reminder_before_slot)
        if remind_at > workflow.now():
            await self._wait(lambda: False, remind_at)
            await self._email(f"slot-reminder-{stage.id}", "slot_reminder", details=details)
        await self._wait(lambda: False, slot + timedelta(minutes=stage.duration_minutes))

    def _current_scheduling(self) -> Scheduling | None:
        stage = next((s for s in self._pipeline.stages if s.id == self._stage), None)
        return stage if isinstance(stage, Scheduling) else None

    @workflow.update(name="offer_slots")
    async def offer_slots(self, offer: SlotOffer) -> ApplicationState:
        self._scheduling.slots = sorted(offer.slots)
        return self.state()

    @offer_slots.validator
    def _validate_offer(self, offer: SlotOffer) -> None:
        if self._current_scheduling() is None or self._closed():
            raise conflict(f"the application is at the {self._stage_kind} stage, not scheduling")
        if self._scheduling.slots:
            raise conflict("slots have already been offered")
        if not 1 <= len(offer.slots) <= 20 or len(set(offer.slots)) != len(offer.slots):
            raise invalid("offer between 1 and 20 different slots")
        if any(s <= workflow.now() for s in offer.slots):
            raise invalid("every slot must be in the future")

    @workflow.update(name="pick_slot")
    async def pick_slot(self, pick: SlotPick) -> ApplicationState:
        self._scheduling.booked = pick.slot
        return self.state()

    @pick_slot.validator
    def _validate_pick(self, pick: SlotPick) -> None:
        state = self._scheduling
        if self._current_scheduling() is None or not state.slots or self._closed():
            raise conflict("no slots are on offer")
        if state.booked is not None:
            raise conflict(f"a slot is already booked: {state.booked.isoformat()}")
        if pick.slot not in state.slots:
            raise invalid("pick one of the offered slots")
        if pick.slot <= workflow.now():
            raise conflict("that slot has passed; pick a later one")
