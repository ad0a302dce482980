"""The candidate portal's questions (/c/{token}/questions/...): each on its own page, answered by a
form (text, a choice, a file) or by the recorder (which opens a timed question and uploads the
recording as the request's body), then the submission."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import UploadFile

from api import csrf
from api.deps import CandidateDep, SessionDep, SettingsDep, TemporalClientDep
from api.errors import ApiError, Unprocessable
from api.pages.forms import parsed
from api.pages.render import Portal, PortalDep
from api.schemas import CandidateView, QuestionPublic, TextAnswerCreate
from api.services.candidate import actions
from api.services.candidate.view import pipeline_of
from api.uploads import check_declared_length, chunks_of, describe_size, refuse_over_upload_quota
from offhours.media import ACCEPTED

router = APIRouter(prefix="/c/{token}", tags=["candidate portal"], include_in_schema=False)


@router.get("/questions", response_class=HTMLResponse)
async def questions(p: PortalDep) -> HTMLResponse:
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
    question = actions.interview_question(p.application, question_id)
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
async def question_page(p: PortalDep, question_id: str) -> Response:
    return await _question_page(p, question_id)


@router.post("/questions/{question_id}/open", response_model=None)
async def open_question(p: PortalDep, question_id: str, client: TemporalClientDep) -> Response:
    """Opens a question (its clock starts if timed). From the recorder: JSON; from a form: a redirect."""
    scripted = "application/json" in p.request.headers.get("accept", "")
    if scripted:
        csrf.verify(p.request, p.settings, None)
        take = await actions.open_question(client, p.session, p.settings, p.application, question_id)
        return JSONResponse(json.loads(take.model_dump_json()))
    await p.form()
    try:
        await actions.open_question(client, p.session, p.settings, p.application, question_id)
    except ApiError as error:
        return await _question_page(p, question_id, status_code=error.status_code, error=error.detail)
    return p.redirect(f"/questions/{question_id}")


@router.post("/questions/{question_id}/recording", response_model=None)
async def upload_recording(
    token: str,  # noqa: ARG001 (the candidate's link, in the path; CandidateDep checks it)
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
    question = actions.interview_question(application, question_id)
    actions.refuse_if_closed(application)
    state = await actions.save_file_answer(
        client, session, settings, application, question, request.stream(), received_at
    )
    return JSONResponse({"saved": question.id, "answered": state.answered, "status": state.status})


@router.post("/questions/{question_id}", response_model=None)
async def answer_question(p: PortalDep, question_id: str, client: TemporalClientDep) -> Response:
    received_at = datetime.now(UTC)
    question = actions.interview_question(p.application, question_id)
    draft: str | None = None
    try:
        if question.type in ("file", "video", "audio"):  # a document, or a recording made elsewhere
            check_declared_length(p.request, p.settings)
            refuse_over_upload_quota(p.settings, p.application.id)  # before a byte of the body is taken
            form = await p.request.form(max_files=1, max_fields=4)
            try:
                submitted = form.get(csrf.FIELD)
                csrf.verify(p.request, p.settings, submitted if isinstance(submitted, str) else None)
                upload = form.get("file")
                if not isinstance(upload, UploadFile) or not upload.filename:
                    raise Unprocessable("Choose a file to upload.")
                await actions.save_file_answer(
                    client,
                    p.session,
                    p.settings,
                    p.application,
                    question,
                    chunks_of(upload),
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
            body = parsed(TextAnswerCreate, {"question_id": question.id, "text": draft})
            await actions.save_text_answer(client, p.session, p.application, body.question_id, body.text)
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
    ids = [q.id for q in pipeline_of(p.application).interview_questions()]
    following = ids[ids.index(question_id) + 1 :] if question_id in ids else []
    return p.redirect(f"/questions/{following[0]}" if following else "/questions", done="saved")


@router.post("/submit", response_model=None)
async def submit(p: PortalDep, client: TemporalClientDep) -> Response:
    await p.form()
    try:
        await actions.submit(client, p.session, p.application)
    except ApiError as error:
        return await p.page("questions.html", "questions", status_code=error.status_code, error=error.detail)
    p.session.refresh(p.application)
    return p.redirect("", done="submitted")
