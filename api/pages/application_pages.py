"""The application page's other actions, for ops and recruiters: offer interview slots, record a
custom stage's outcome, release held feedback, answer the candidate. Each goes through the same
service as its JSON API twin (api/services/applications.py, api/services/messages.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import SessionDep, SettingsDep, StaffDep, TemporalClientDep
from api.errors import ApiError
from api.pages.actions import SLOT_FIELDS, SlotError, slots_from
from api.pages.console import act, application_view
from api.pages.forms import field_errors, parsed, text
from api.schemas import FeedbackReleaseCreate, MessageCreate, SlotOfferCreate, StageOutcomeCreate
from api.services import applications
from api.services import messages as thread
from api.services.access import load_application, recorded_as

router = APIRouter(prefix="/staff", tags=["staff pages"], include_in_schema=False)
SLOT_NAMES = ("timezone", *(f"slot-{i}" for i in range(1, SLOT_FIELDS + 1)))


@router.post("/applications/{application_id}/slots", response_model=None)
async def offer_slots(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    form = await request.form(max_fields=12)
    values = {name: text(form, name) for name in SLOT_NAMES}
    load_application(session, application_id, staff)
    try:
        body = parsed(SlotOfferCreate, {"slots": slots_from(values)})
    except SlotError as error:
        errors = {error.field: str(error)}
        return application_view(
            request, session, settings, staff, application_id, 422, str(error), errors=errors, values=values
        )
    except ApiError as error:
        errors = field_errors(error, {}, "slot-1")
        return application_view(
            request, session, settings, staff, application_id, 422, error.detail, errors=errors, values=values
        )
    offer = applications.slot_offer(staff, body)
    return await act(request, session, settings, client, staff, application_id, "offer_slots", offer)


@router.post("/applications/{application_id}/stages/{stage_id}/outcome", response_model=None)
async def record_outcome(
    application_id: str,
    stage_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    form = await request.form(max_fields=6)
    values = {"outcome": text(form, "outcome"), "note": text(form, "note")}
    try:
        body = parsed(StageOutcomeCreate, {"outcome": values["outcome"], "note": values["note"] or None})
        await applications.record_stage_outcome(client, session, staff, application_id, stage_id, body)
    except ApiError as error:
        errors = field_errors(error, {"outcome": "outcome", "note": "note"}, "outcome")
        if errors.get("outcome", "").startswith("Input should be"):
            errors["outcome"] = "Choose continue or reject."
        return application_view(
            request, session, settings, staff, application_id, error.status_code, error.detail, errors=errors
        )
    return RedirectResponse(f"/staff/applications/{application_id}?done=record_outcome", status_code=303)


@router.post("/applications/{application_id}/feedback/release", response_model=None)
async def release_feedback(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    form = await request.form(max_fields=6)
    edited = text(form, "text")
    try:
        body = parsed(FeedbackReleaseCreate, {"text": edited or None})
    except ApiError as error:
        errors = {"text": error.detail}
        return application_view(
            request, session, settings, staff, application_id, 422, error.detail, errors=errors
        )
    release = applications.feedback_release(staff, body)
    return await act(request, session, settings, client, staff, application_id, "release_feedback", release)


@router.post("/applications/{application_id}/messages", response_model=None)
async def answer(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    form = await request.form(max_fields=6)
    values = {"body": text(form, "body")}
    application = load_application(session, application_id, staff)
    try:
        body = parsed(MessageCreate, values, {"body": "Write your answer."})
        await thread.answer_candidate(client, session, settings, application, recorded_as(staff), body.body)
    except ApiError as error:
        session.rollback()
        return application_view(
            request,
            session,
            settings,
            staff,
            application_id,
            error.status_code,
            error.detail,
            errors={"body": error.detail},
            values=values,
        )
    return RedirectResponse(f"/staff/applications/{application_id}?done=answered#messages", status_code=303)
