"""The candidate portal's later stages (/c/{token}/...): the timed assessment, booking a live
interview's slot (and its calendar file), and onboarding's modules.

The pages call the same services as the candidate API (api/services/candidate/actions.py); the
workflow's update validators decide (a clock that has run out, a slot already booked, a module done
twice), and a refusal shows on the same page, next to the field it concerns, with its own status.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from activities.email_text import calendar_event, format_deadline, slot_event_uid
from api.deps import TemporalClientDep
from api.errors import ApiError, NotFound, Unprocessable
from api.pages.forms import parsed, text
from api.pages.render import Portal, PortalDep
from api.schemas import AssessmentAnswerCreate, SlotPickCreate
from api.services.candidate import actions
from api.services.candidate.view import pipeline_of
from offhours.models import Candidate, Job, invited_as
from offhours.states import ApplicationStatus
from pipelines.stages import Assessment, Module, Onboarding, Scheduling

router = APIRouter(prefix="/c/{token}", tags=["candidate portal"], include_in_schema=False)

OTHER_TIMES = (
    "None of the times offered for the interview suit me. Could you offer others? "
    "Times that would work for me: "
)


def _stage_of(p: Portal, kind: type, stage_id: str) -> Any:
    """The stage of this kind at `stage_id`, or else the pipeline's first of that kind."""
    pipeline = pipeline_of(p.application)
    at = next((s for s in pipeline.stages if s.id == stage_id), None)
    return at if isinstance(at, kind) else pipeline.first(kind)


async def _stage(p: Portal, kind: type) -> tuple[Any, bool, bool]:
    """The stage of this kind the application is at (as its workflow has it), or else the
    pipeline's first of that kind; whether it is the current stage, and whether the application
    has ended."""
    stage_id, status = await p.at()
    stage = _stage_of(p, kind, stage_id)
    current = stage is not None and stage.id == stage_id and not status.is_final
    return stage, current, status.is_final


async def _absent(p: Portal, template: str, what: str) -> HTMLResponse:
    return await p.page(template, "home", status_code=404, stage=None, error=f"This process has no {what}.")


# ------------------------------------------------------------------------------------ assessment


def _assessment_phase(current: bool, ended: bool, ends_at: datetime | None, started: bool) -> str:
    """before (may start), running (its clock runs), over (submitted or ended), closed, or upcoming."""
    if current and not started:
        return "before"
    if current and ends_at is not None and datetime.now(UTC) < ends_at:
        return "running"
    if started:
        return "over"
    return "closed" if ended else "upcoming"


async def _assessment_page(p: Portal, status_code: int = 200, **context: Any) -> Response:
    stage, current, ended = await _stage(p, Assessment)
    if stage is None:
        return await _absent(p, "assessment.html", "assessment")
    workflow = await p.workflow()
    state, queried = (workflow.state, workflow.portal) if workflow else (None, None)
    answers = queried.assessment_answers.get(stage.id) if queried else None
    ends_at = state.assessment_ends_at if state and state.stage == stage.id else None
    phase = _assessment_phase(current, ended, ends_at, answers is not None)
    timed_out = bool(queried and stage.id in queried.assessment_timed_out) or (
        phase == "over" and ends_at is not None
    )
    result = None
    if phase == "over" and stage.show_result and state and state.assessment_score is not None:
        result = {"percent": round(state.assessment_score * 100), "passed": state.assessment_passed}
    view = await p.view()
    return await p.page(
        "assessment.html",
        "home",
        view,
        status_code=status_code,
        stage=stage,
        phase=phase,
        ends_at=ends_at,
        ends_local=format_deadline(ends_at, view.timezone) if ends_at else "",
        server_now=datetime.now(UTC),
        answers=answers or {},
        timed_out=timed_out,
        result=result,
        pass_percent=round(stage.pass_mark * 100),
        minutes=stage.time_limit // 60,
        seconds=stage.time_limit % 60,
        **{"drafts": {}, **context},
    )


@router.get("/assessment", response_class=HTMLResponse, response_model=None)
async def assessment(p: PortalDep) -> Response:
    return await _assessment_page(p)


@router.post("/assessment/start", response_model=None)
async def assessment_start(p: PortalDep, client: TemporalClientDep) -> Response:
    await p.form()
    try:
        await actions.start_assessment(client, p.session, p.application)
    except ApiError as error:
        return await _assessment_page(p, error.status_code, error=error.detail)
    return p.redirect("/assessment", done="started")


@router.post("/assessment/answers", response_model=None)
async def assessment_answer(p: PortalDep, client: TemporalClientDep) -> Response:
    form = await p.form()
    question_id, value = text(form, "question_id"), text(form, "value")
    # Only to name the field in a refusal (the workflow's validator decides): no query needed.
    stage = _stage_of(p, Assessment, p.application.stage)
    ids = [q.id for q in stage.questions] if stage else []
    try:
        if question_id in ids and not value:
            raise Unprocessable("Enter an answer first, or choose one.")
        body = parsed(AssessmentAnswerCreate, {"question_id": question_id, "value": value})
        await actions.save_assessment_answer(client, p.session, p.application, body.question_id, body.value)
    except ApiError as error:
        p.refresh()
        known = question_id in ids
        return await _assessment_page(
            p,
            error.status_code,
            error=error.detail,
            field_error=question_id if known else None,
            drafts={question_id: value} if known else {},
        )
    following = ids[ids.index(question_id) + 1 :]
    return p.redirect("/assessment", done="answer", anchor=f"q-{following[0]}" if following else "submit")


@router.post("/assessment/submit", response_model=None)
async def assessment_submit(p: PortalDep, client: TemporalClientDep) -> Response:
    await p.form()
    try:
        await actions.submit_assessment(client, p.session, p.application)
    except ApiError as error:
        return await _assessment_page(p, error.status_code, error=error.detail)
    return p.redirect("/assessment", done="assessed")


# ------------------------------------------------------------------------------------ scheduling


async def _slots_page(p: Portal, status_code: int = 200, **context: Any) -> Response:
    stage, current, ended = await _stage(p, Scheduling)
    if stage is None:
        return await _absent(p, "slots.html", "live interview to book")
    view = await p.view()
    if view.booked_slot is not None:
        phase = "booked"
    elif current:
        phase = "offered" if view.slots else "waiting"
    else:
        phase = "closed" if ended else "upcoming"
    return await p.page(
        "slots.html",
        "home",
        view,
        status_code=status_code,
        stage=stage,
        phase=phase,
        slots=[(s.isoformat(), format_deadline(s, view.timezone)) for s in view.slots],
        booked_local=format_deadline(view.booked_slot, view.timezone) if view.booked_slot else "",
        other_times=OTHER_TIMES,
        **context,
    )


@router.get("/slots", response_class=HTMLResponse, response_model=None)
async def slots(p: PortalDep) -> Response:
    return await _slots_page(p)


@router.post("/slots", response_model=None)
async def book_slot(p: PortalDep, client: TemporalClientDep) -> Response:
    form = await p.form()
    chosen = text(form, "slot")
    try:
        if not chosen:
            raise Unprocessable("Choose one of the times first.")
        body = parsed(SlotPickCreate, {"slot": chosen}, {"slot": "Choose one of the times offered."})
        await actions.pick_slot(client, p.session, p.application, body.slot)
    except ApiError as error:
        p.refresh()
        return await _slots_page(
            p, error.status_code, error=f"This time could not be booked: {error.detail}.", field_error="slot"
        )
    return p.redirect("/slots", done="booked")


@router.get("/slot.ics", response_model=None)
async def slot_calendar(p: PortalDep) -> Response:
    """The booked slot as a calendar event: the one the confirmation email carries."""
    stage, _, _ = await _stage(p, Scheduling)
    workflow = await p.workflow()
    booked = workflow.state.booked_slot if workflow else None
    if stage is None or booked is None:
        raise NotFound("no interview time is booked on this application")
    candidate = p.session.get(Candidate, p.application.candidate_id)
    job = p.session.get(Job, p.application.job_id)
    assert candidate is not None
    assert job is not None
    event = calendar_event(
        # The confirmation email's key (workflows/application/stages/scheduling.py), so the event
        # is the same one: a calendar that has it already updates it rather than adding another.
        uid=slot_event_uid(p.application.id, f"slot-confirmed-{stage.id}", p.settings.MAIL_FROM),
        start=booked,
        duration_minutes=stage.duration_minutes,
        title=stage.title,
        job_title=job.title,
        location=stage.location,
        mail_from=p.settings.MAIL_FROM,
        attendee=invited_as(candidate, p.application).email,
        stamp=datetime.now(UTC),
    )
    return Response(
        event,
        media_type="text/calendar",
        headers={"Content-Disposition": 'attachment; filename="interview.ics"'},
    )


# ------------------------------------------------------------------------------------ onboarding


async def _onboarding_page(
    p: Portal, module: Module | None = None, status_code: int = 200, **context: Any
) -> Response:
    stage, _, _ = await _stage(p, Onboarding)
    if stage is None:
        return await _absent(p, "onboarding.html", "onboarding")
    view = await p.view()
    workflow = await p.workflow()
    started = workflow.portal.onboarding_started_at if workflow else None
    done = {m.id for m in view.modules or () if m.done}
    modules = [
        {
            "module": m,
            "done": m.id in done,
            "due": format_deadline(started + timedelta(seconds=m.due), view.timezone) if started else "",
        }
        for m in stage.modules
    ]
    stage_id, status = await p.at()
    running = stage_id == stage.id and status == ApplicationStatus.approved  # onboarding follows a hire
    return await p.page(
        "module.html" if module else "onboarding.html",
        "home",
        view,
        status_code=status_code,
        stage=stage,
        modules=modules,
        entry=next((m for m in modules if m["module"] == module), None),
        running=running,
        done_count=len(done),
        **context,
    )


@router.get("/onboarding", response_class=HTMLResponse, response_model=None)
async def onboarding(p: PortalDep) -> Response:
    return await _onboarding_page(p)


async def _module(p: Portal, module_id: str) -> Module | None:
    stage, _, _ = await _stage(p, Onboarding)
    return next((m for m in stage.modules if m.id == module_id), None) if stage else None


@router.get("/onboarding/{module_id}", response_class=HTMLResponse, response_model=None)
async def module_page(p: PortalDep, module_id: str) -> Response:
    module = await _module(p, module_id)
    if module is None:
        return await _onboarding_page(p, status_code=404, error=f"There is no module '{module_id}'.")
    return await _onboarding_page(p, module)


@router.post("/onboarding/{module_id}", response_model=None)
async def module_done(p: PortalDep, module_id: str, client: TemporalClientDep) -> Response:
    await p.form()
    try:
        await actions.complete_module(client, p.session, p.application, module_id)
    except ApiError as error:
        p.refresh()
        return await _onboarding_page(p, await _module(p, module_id), error.status_code, error=error.detail)
    return p.redirect("/onboarding", done="module")
