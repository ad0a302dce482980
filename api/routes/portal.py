"""The candidate portal: server-rendered pages on the candidate's link (/c/{token}/...).

Every page works without JavaScript except recording, which needs the browser's MediaRecorder.
Form posts carry a CSRF token and answer with a redirect (so a reload never posts twice) or, when
something is wrong, the same page with the error next to the field it concerns.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from api import candidate_service as service
from api import csrf
from api.candidate_service import CandidateDep, candidate_view, notify_link_opened, workflow_state
from api.deps import SessionDep, SettingsDep, TemporalClientDep
from api.errors import ApiError, Unprocessable
from api.pages import render_page
from api.routes.candidate import check_declared_length
from api.schemas import CandidateView, QuestionPublic
from api.uploads import chunks_of, describe_size, refuse_over_upload_quota
from api.workflow_calls import update_application
from offhours.contracts import ExtensionRequest
from offhours.media import ACCEPTED
from offhours.models import Application, Job
from offhours.settings import Settings
from pipelines.consent import consent_text

router = APIRouter(prefix="/c/{token}", tags=["candidate portal"], include_in_schema=False)

PRACTICE_THINK_SECONDS = 10
PRACTICE_LIMIT_SECONDS = 30
STATUS_TEXT = {
    "invited": "open",
    "in_progress": "in progress",
    "submitted": "submitted: your answers are with the team",
    "in_review": "being reviewed",
    "awaiting_decision": "waiting for a decision",
    "approved": "successful",
    "rejected": "closed: not successful this time",
    "expired": "closed: the deadline passed",
    "withdrawn": "withdrawn",
}


class Portal:
    """What every portal page needs: the link, the view, the CSRF token, and how to render."""

    def __init__(
        self, token: str, request: Request, application: Application, session: Any, settings: Settings
    ) -> None:
        self.token = token
        self.request = request
        self.application = application
        self.session = session
        self.settings = settings
        self.base = f"/c/{token}"
        self.csrf_cookie, self.new_cookie = csrf.csrf_value(request)

    async def view(self) -> CandidateView:
        state = await workflow_state(self.request, self.application)
        return candidate_view(self.session, self.application, state, self.settings)

    def when(self, moment: datetime, zone: str) -> str:
        return moment.astimezone(ZoneInfo(zone)).strftime("%d %B %Y, %H:%M")

    async def page(
        self,
        template: str,
        current: str,
        view: CandidateView | None = None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        view = view or await self.view()
        notice = context.pop("notice", None) or NOTICES.get(self.request.query_params.get("done", ""))
        response = render_page(
            self.request,
            f"pages/portal/{template}",
            {
                "view": view,
                "base": self.base,
                "current": current,
                "csrf_token": csrf.form_token(self.settings, self.csrf_cookie),
                "status_text": STATUS_TEXT.get(view.status.value, view.status.value),
                "when": lambda moment: self.when(moment, view.timezone),
                "notice": notice,
                "error": None,
                "field_error": None,
                **context,
            },
            status_code=status_code,
        )
        if self.new_cookie:
            csrf.set_cookie(response, self.settings, self.csrf_cookie)
        return response

    def redirect(self, path: str = "", done: str | None = None) -> RedirectResponse:
        url = self.base + path + (f"?done={done}" if done else "")
        return RedirectResponse(url, status_code=303)

    async def form(self) -> FormData:
        form = await self.request.form(max_files=0, max_fields=10)
        submitted = form.get(csrf.FIELD)
        csrf.verify(self.request, self.settings, submitted if isinstance(submitted, str) else None)
        return form

    def consent(self) -> Any:
        job = self.session.get(Job, self.application.job_id)
        assert job is not None
        return consent_text(service.pipeline_of(self.application), job.title, self.settings.RETENTION_DAYS)


NOTICES = {
    "consent": "Thank you. Try the practice question, or go straight to the questions.",
    "saved": "Your answer is saved.",
    "submitted": "Submitted. Your answers are with the team; we email you at each step.",
    "asked": "Sent. You will get the answer by email, and it will show here.",
    "extension": "Your request is recorded; the answer comes by email and shows on the overview.",
    "deletion": "Your request is recorded. We confirm by email.",
}


def portal(
    token: str, request: Request, application: Application, session: Any, settings: Settings
) -> Portal:
    return Portal(token, request, application, session, settings)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# ------------------------------------------------------------------------------------- pages


@router.get("", response_class=HTMLResponse)
async def home(
    token: str, request: Request, application: CandidateDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    p = portal(token, request, application, session, settings)
    response = await p.page("home.html", "home")
    await notify_link_opened(request, application)
    return response


@router.get("/consent", response_class=HTMLResponse)
async def consent_page(
    token: str, request: Request, application: CandidateDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    p = portal(token, request, application, session, settings)
    view = await p.view()
    local = p.when(view.consent_at, view.timezone) if view.consent_at else None
    return await p.page("consent.html", "home", view, text=p.consent(), consent_local=local)


@router.post("/consent", response_model=None)
async def consent_post(
    token: str,
    request: Request,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    p = portal(token, request, application, session, settings)
    form = await p.form()
    if _text(form, "agree") != "yes":
        return await p.page(
            "consent.html",
            "home",
            status_code=422,
            text=p.consent(),
            error="Tick the box to agree before recording, or ask your contact about another way to apply.",
            field_error="agree",
        )
    try:
        await service.give_consent(client, session, settings, application, _text(form, "version"))
    except ApiError as error:
        return await p.page(
            "consent.html", "home", status_code=error.status_code, text=p.consent(), error=error.detail
        )
    return p.redirect("/practice", done="consent")


@router.get("/practice", response_class=HTMLResponse)
async def practice(
    token: str, request: Request, application: CandidateDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    p = portal(token, request, application, session, settings)
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


@router.get("/questions", response_class=HTMLResponse)
async def questions(
    token: str, request: Request, application: CandidateDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    p = portal(token, request, application, session, settings)
    return await p.page("questions.html", "questions")


def _neighbours(view: CandidateView, question_id: str) -> tuple[QuestionPublic, str | None, str | None]:
    ids = [q.id for q in view.questions]
    index = ids.index(question_id)
    return (
        view.questions[index],
        ids[index - 1] if index > 0 else None,
        ids[index + 1] if index + 1 < len(ids) else None,
    )


async def _question_page(
    p: Portal, question_id: str, status_code: int = 200, view: CandidateView | None = None, **context: Any
) -> Response:
    view = view or await p.view()
    if question_id not in [q.id for q in view.questions]:
        return await p.page(
            "questions.html",
            "questions",
            view,
            status_code=404,
            error=f"There is no question '{question_id}'.",
        )
    q, prev_id, next_id = _neighbours(view, question_id)
    if q.type in ("video", "audio") and view.consent_required and view.consent_at is None:
        return p.redirect("/consent")
    question = service.interview_question(p.application, question_id)
    rec = None
    if q.type in ("video", "audio"):
        rec = {
            "kind": q.type,
            "practice": False,
            "question": q.id,
            "limit": q.answer_time_limit,
            "think": q.think_time,
            "takes_allowed": q.takes_allowed,
            "takes_used": q.takes_used,
            "max_bytes": q.max_bytes,
            "take_json": q.open_take.model_dump_json() if q.open_take else None,
            "answered": q.answered,
            "open_url": f"{p.base}/questions/{q.id}/open",
            "upload_url": f"{p.base}/questions/{q.id}/recording",
            "start_label": "Show the question and start" if q.prompt is None else "Start",
            "intro": "Press Start; your browser may ask to use your "
            + ("camera and microphone." if q.type == "video" else "microphone."),
        }
    return await p.page(
        "question.html",
        "questions",
        view,
        status_code=status_code,
        q=q,
        total=len(view.questions),
        prev_id=prev_id,
        next_id=next_id,
        rec=rec,
        max_length=question.max_length,
        accepts_text=", ".join(ACCEPTED.get(q.type, ())),
        max_size=describe_size(q.max_bytes) if q.max_bytes else "",
        **{"draft": None, **context},
    )


@router.get("/questions/{question_id}", response_class=HTMLResponse, response_model=None)
async def question_page(
    token: str,
    question_id: str,
    request: Request,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    return await _question_page(portal(token, request, application, session, settings), question_id)


@router.post("/questions/{question_id}/open", response_model=None)
async def open_question(
    token: str,
    question_id: str,
    request: Request,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    """Opens a question (its clock starts if timed). From the recorder: JSON; from a form: a redirect."""
    p = portal(token, request, application, session, settings)
    scripted = "application/json" in request.headers.get("accept", "")
    if scripted:
        csrf.verify(request, settings, None)
        take = await service.open_question(client, session, settings, application, question_id)
        return JSONResponse(json.loads(take.model_dump_json()))
    await p.form()
    try:
        await service.open_question(client, session, settings, application, question_id)
    except ApiError as error:
        return await _question_page(p, question_id, status_code=error.status_code, error=error.detail)
    return p.redirect(f"/questions/{question_id}")


@router.post("/questions/{question_id}/recording", response_model=None)
async def upload_recording(
    token: str,
    question_id: str,
    request: Request,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    """The recorder's upload: the raw recording as the body, streamed to disk under its size limit."""
    received_at = datetime.now(UTC)
    csrf.verify(request, settings, None)
    question = service.interview_question(application, question_id)
    service.refuse_if_closed(application)
    state = await service.save_file_answer(
        client, session, settings, application, question, request.stream(), "", received_at
    )
    return JSONResponse({"saved": question.id, "answered": state.answered, "status": state.status})


@router.post("/questions/{question_id}", response_model=None)
async def answer_question(
    token: str,
    question_id: str,
    request: Request,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    received_at = datetime.now(UTC)
    p = portal(token, request, application, session, settings)
    question = service.interview_question(application, question_id)
    draft: str | None = None
    try:
        if question.type in ("file", "video", "audio"):  # a document, or a recording made elsewhere
            check_declared_length(request, settings)
            refuse_over_upload_quota(settings, application.id)  # before a byte of the body is taken
            form = await request.form(max_files=1, max_fields=4)
            try:
                submitted = form.get(csrf.FIELD)
                csrf.verify(request, settings, submitted if isinstance(submitted, str) else None)
                upload = form.get("file")
                if not isinstance(upload, UploadFile) or not upload.filename:
                    raise Unprocessable("Choose a file to upload.")
                await service.save_file_answer(
                    client,
                    session,
                    settings,
                    application,
                    question,
                    chunks_of(upload),
                    upload.filename,
                    received_at,
                )
            finally:
                await form.close()
        else:
            form = await p.form()
            draft = form.get("answer") if isinstance(form.get("answer"), str) else None  # type: ignore[assignment]
            if not draft or not draft.strip():
                raise Unprocessable(
                    "Choose one answer." if question.type == "choice" else "Write an answer first."
                )
            await service.save_text_answer(client, session, application, question.id, draft)
    except ApiError as error:
        if error.status_code == 403:
            raise
        return await _question_page(
            p,
            question_id,
            status_code=error.status_code,
            error=error.detail,
            field_error="answer",
            draft=draft,
        )
    ids = [q.id for q in service.pipeline_of(application).interview_questions()]
    following = ids[ids.index(question_id) + 1 :] if question_id in ids else []
    return p.redirect(f"/questions/{following[0]}" if following else "/questions", done="saved")


@router.post("/submit", response_model=None)
async def submit(
    token: str,
    request: Request,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    p = portal(token, request, application, session, settings)
    await p.form()
    try:
        await service.submit(client, session, application)
    except ApiError as error:
        return await p.page("questions.html", "questions", status_code=error.status_code, error=error.detail)
    session.refresh(application)
    return p.redirect("", done="submitted")


@router.get("/faq", response_class=HTMLResponse)
async def faq(
    token: str, request: Request, application: CandidateDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    p = portal(token, request, application, session, settings)
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
async def messages(
    token: str, request: Request, application: CandidateDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    return await portal(token, request, application, session, settings).page("messages.html", "messages")


@router.post("/messages", response_model=None)
async def ask(
    token: str,
    request: Request,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    p = portal(token, request, application, session, settings)
    form = await p.form()
    body = _text(form, "body")
    problem = (
        "Write your question first."
        if not body
        else "Keep it under 5,000 characters."
        if len(body) > 5000
        else None
    )
    status = 422
    if problem is None:
        try:
            await service.ask_contact(client, session, settings, application, body)
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
async def extension_page(
    token: str, request: Request, application: CandidateDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    return await portal(token, request, application, session, settings).page("extension.html", "extension")


@router.post("/extension", response_model=None)
async def extension_post(
    token: str,
    request: Request,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    p = portal(token, request, application, session, settings)
    form = await p.form()
    hours_text, reason = _text(form, "hours"), _text(form, "reason")[:2000] or None
    if re.fullmatch(r"[0-9]{1,4}", hours_text) is None or not 1 <= int(hours_text) <= 1440:
        return await p.page(
            "extension.html",
            "extension",
            status_code=422,
            error="Enter a whole number of hours between 1 and 1440.",
            field_error="hours",
            draft_hours=hours_text,
            draft_reason=reason,
        )
    try:
        await update_application(
            client,
            session,
            application,
            "request_extension",
            ExtensionRequest(int(hours_text) * 3600, reason),
        )
    except ApiError as error:
        return await p.page(
            "extension.html",
            "extension",
            status_code=error.status_code,
            error=error.detail,
            draft_hours=hours_text,
            draft_reason=reason,
        )
    return p.redirect("", done="extension")


@router.get("/feedback", response_class=HTMLResponse)
async def feedback(
    token: str, request: Request, application: CandidateDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    return await portal(token, request, application, session, settings).page("feedback.html", "feedback")


@router.get("/privacy", response_class=HTMLResponse)
async def privacy(
    token: str, request: Request, application: CandidateDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    p = portal(token, request, application, session, settings)
    return await p.page("privacy.html", "privacy", text=p.consent())


@router.post("/privacy", response_model=None)
async def privacy_post(
    token: str,
    request: Request,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> Response:
    p = portal(token, request, application, session, settings)
    form = await p.form()
    if _text(form, "confirm") != "yes":
        return await p.page(
            "privacy.html",
            "privacy",
            status_code=422,
            text=p.consent(),
            error="Tick the box to confirm that you want your data deleted.",
            field_error="confirm",
        )
    await service.request_deletion(
        client, session, settings, application, _text(form, "reason")[:2000] or None
    )
    return p.redirect("/privacy", done="deletion")
