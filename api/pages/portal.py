"""The candidate portal: server-rendered pages on the candidate's link (/c/{token}/...): the
overview, consent, practice, help, messages, more time, feedback, the voluntary self-identification
and their data rights (the
questions themselves: api/pages/questions.py).

Every page works without JavaScript except recording, which needs the browser's MediaRecorder.
Form posts carry a CSRF token and answer with a redirect (so a reload never posts twice) or, when
something is wrong, the same page with the error next to the field it concerns.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from api.deps import TemporalClientDep
from api.errors import ApiError
from api.pages.forms import parsed, text
from api.pages.render import Portal, PortalDep
from api.schemas import (
    ConsentCreate,
    DeletionRequestCreate,
    ExtensionRequestCreate,
    MessageCreate,
    SelfIdentificationCreate,
)
from api.services import messages as thread
from api.services.candidate import actions, self_identification, view

router = APIRouter(prefix="/c/{token}", tags=["candidate portal"], include_in_schema=False)

PRACTICE_THINK_SECONDS = 10
PRACTICE_LIMIT_SECONDS = 30
HOURS = {"hours": "Enter a whole number of hours."}
DRAFT_LIMIT = 2000  # characters of a draft a link may pre-fill


@router.get("", response_class=HTMLResponse)
async def home(p: PortalDep) -> HTMLResponse:
    response = await p.page("home.html", "home")
    await view.notify_link_opened(p.request, p.application)
    return response


@router.get("/consent", response_class=HTMLResponse)
async def consent_page(p: PortalDep) -> HTMLResponse:
    view = await p.view()
    local = p.when(view.consent_at, view.timezone) if view.consent_at else None
    return await p.page("consent.html", "home", view, text=p.consent(), consent_local=local)


@router.post("/consent", response_model=None)
async def consent_post(p: PortalDep, client: TemporalClientDep) -> Response:
    form = await p.form()
    if text(form, "agree") != "yes":
        return await p.page(
            "consent.html",
            "home",
            status_code=422,
            text=p.consent(),
            error="Tick the box to agree before recording, or ask your contact about another way to apply.",
            field_error="agree",
        )
    try:
        body = parsed(ConsentCreate, {"version": text(form, "version")})
        await actions.give_consent(client, p.session, p.settings, p.application, body.version)
    except ApiError as error:
        return await p.page(
            "consent.html", "home", status_code=error.status_code, text=p.consent(), error=error.detail
        )
    return p.redirect("/practice", done="consent")


@router.get("/practice", response_class=HTMLResponse)
async def practice(p: PortalDep) -> HTMLResponse:
    view = await p.view()
    kind = "video" if any(q.type == "video" for q in view.questions) else "audio"
    rec = {
        "kind": kind,
        "practice": True,
        "think": PRACTICE_THINK_SECONDS,
        "limit": PRACTICE_LIMIT_SECONDS,
        "start_label": "Start the practice",
        "intro": "Press Start; your browser will ask to use your camera and microphone.",
    }
    return await p.page("practice.html", "questions", view, rec=rec, kind=kind)


@router.get("/faq", response_class=HTMLResponse)
async def faq(p: PortalDep) -> HTMLResponse:
    view = await p.view()
    entries = [
        *view.faq,
        {
            "question": "Can I stop and continue later, or on another device?",
            "answer": f"Yes. Each answer is saved when you save it; open this link on any device until "
            f"{view.deadline_local or 'your deadline'} and continue where you left off.",
        },
        {
            "question": "What if something goes wrong while I record?",
            "answer": "Your saved answers are safe. If a timed question's clock ran out because of a "
            "problem on our side or yours, ask your contact: they can see what happened.",
        },
    ]
    return await p.page("faq.html", "faq", view, faq=entries)


@router.get("/messages", response_class=HTMLResponse)
async def messages(p: PortalDep) -> HTMLResponse:
    """A link may bring a draft to start from (the slots page's "none of these times suit me")."""
    draft = p.request.query_params.get("draft", "")[:DRAFT_LIMIT] or None
    return await p.page("messages.html", "messages", draft=draft)


@router.post("/messages", response_model=None)
async def ask(p: PortalDep, client: TemporalClientDep) -> Response:
    form = await p.form()
    body = text(form, "body")
    problem = "Write your question first." if not body else None
    status = 422
    if problem is None:
        try:
            message = parsed(MessageCreate, {"body": body})
            await thread.ask_contact(client, p.session, p.settings, p.application, message.body)
        except ApiError as error:
            problem, status = error.detail, error.status_code  # a 503 or 429 stays one (try again)
    if problem:
        page = await p.page(
            "messages.html", "messages", status_code=status, error=problem, field_error="body", draft=body
        )
        if status in (429, 503):
            page.headers["Retry-After"] = page.headers.get("Retry-After", "5")
        return page
    return p.redirect("/messages", done="asked")


@router.get("/extension", response_class=HTMLResponse)
async def extension_page(p: PortalDep) -> HTMLResponse:
    return await p.page("extension.html", "extension")


@router.post("/extension", response_model=None)
async def extension_post(p: PortalDep, client: TemporalClientDep) -> Response:
    form = await p.form()
    hours_text, reason = text(form, "hours"), text(form, "reason")
    try:
        body = parsed(ExtensionRequestCreate, {"hours": hours_text, "reason": reason or None}, HOURS)
        await actions.request_extension(client, p.session, p.application, body)
    except ApiError as error:
        return await p.page(
            "extension.html",
            "extension",
            status_code=error.status_code,
            error=error.detail,
            field_error="hours" if error.status_code == 422 else None,
            draft_hours=hours_text,
            draft_reason=reason,
        )
    return p.redirect("", done="extension")


@router.get("/feedback", response_class=HTMLResponse)
async def feedback(p: PortalDep) -> HTMLResponse:
    return await p.page("feedback.html", "feedback")


@router.get("/privacy", response_class=HTMLResponse)
async def privacy(p: PortalDep) -> HTMLResponse:
    return await p.page("privacy.html", "privacy", text=p.consent())


@router.post("/privacy", response_model=None)
async def privacy_post(p: PortalDep, client: TemporalClientDep) -> Response:
    form = await p.form()
    if text(form, "confirm") != "yes":
        return await p.page(
            "privacy.html",
            "privacy",
            status_code=422,
            text=p.consent(),
            error="Tick the box to confirm that you want your data deleted.",
            field_error="confirm",
        )
    try:
        body = parsed(DeletionRequestCreate, {"reason": text(form, "reason") or None})
    except ApiError as error:
        return await p.page(
            "privacy.html", "privacy", status_code=error.status_code, text=p.consent(), error=error.detail
        )
    await actions.request_deletion(client, p.session, p.settings, p.application, body.reason)
    return p.redirect("/privacy", done="deletion")


SEX_CHOICES = (("female", "Female"), ("male", "Male"), ("declined", "I do not wish to answer"))
RACE_CHOICES = (
    ("hispanic_or_latino", "Hispanic or Latino"),
    ("white", "White"),
    ("black_or_african_american", "Black or African American"),
    ("native_hawaiian_or_pacific_islander", "Native Hawaiian or Other Pacific Islander"),
    ("asian", "Asian"),
    ("american_indian_or_alaska_native", "American Indian or Alaska Native"),
    ("two_or_more", "Two or more races"),
    ("declined", "I do not wish to answer"),
)


async def _self_identification_page(p: Portal, status_code: int = 200, **context: Any) -> HTMLResponse:
    stored = self_identification.current(p.session, p.application)
    return await p.page(
        "self_identification.html",
        "self-identification",
        status_code=status_code,
        offered=self_identification.offered(p.application),
        sex_choices=SEX_CHOICES,
        race_choices=RACE_CHOICES,
        chosen_sex=context.pop("chosen_sex", stored.sex if stored else None),
        chosen_race=context.pop("chosen_race", stored.race_ethnicity if stored else None),
        **context,
    )


@router.get("/self-identification", response_class=HTMLResponse)
async def self_identification_page(p: PortalDep) -> HTMLResponse:
    return await _self_identification_page(p)


@router.post("/self-identification", response_model=None)
async def self_identification_post(p: PortalDep) -> Response:
    form = await p.form()
    sex, race = text(form, "sex") or "declined", text(form, "race_ethnicity") or "declined"
    try:
        body = parsed(SelfIdentificationCreate, {"sex": sex, "race_ethnicity": race})
        self_identification.record(p.session, p.application, body.sex, body.race_ethnicity)
    except ApiError as error:
        return await _self_identification_page(
            p, status_code=error.status_code, error=error.detail, chosen_sex=sex, chosen_race=race
        )
    return p.redirect("", done="identified")
