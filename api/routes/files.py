"""Uploaded files for staff: only through short-lived signed URLs, never from a guessable path."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlmodel import select

from api.deps import Principal, SessionDep, SettingsDep, StaffDep
from api.errors import STAFF_ERRORS, Forbidden, Gone, NotFound, errors
from api.routes.applications import load_application, neutral_file_name
from api.schemas import FileLinkPublic
from api.uploads import serve_answer_file
from offhours.models import Answer, User
from offhours.settings import Settings

router = APIRouter(tags=["files"])
URL_LIFETIME_SECONDS = 300
MAX_INT64 = 2**63 - 1  # the database's integers


def _signature(settings: Settings, answer_id: int, expires: int, viewer: str = "") -> str:
    """The URL's HMAC; `viewer` is the user it was issued to, whose access is checked again when
    it is used (ADMIN_TOKEN, which has no user, gets URLs without one)."""
    message = f"offhours.file.v1:{answer_id}:{expires}" + (f":{viewer}" if viewer else "")
    return hmac.new(settings.secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


@router.get(
    "/api/v1/applications/{application_id}/answers/{question_id}/file",
    summary="A signed URL to an uploaded answer, valid for five minutes",
    response_model=FileLinkPublic,
    responses={**STAFF_ERRORS, **errors(404, 422)},
)
def file_url(
    application_id: str, question_id: str, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> dict[str, str | int]:
    application = load_application(session, application_id, staff)
    answer = session.exec(
        select(Answer).where(Answer.application_id == application.id, Answer.question_id == question_id)
    ).first()
    if answer is None or answer.id is None or answer.file_sha256 is None:
        raise NotFound(f"application '{application_id}' has no uploaded answer to '{question_id}'")
    url, expires = signed_file_url(settings, answer.id, viewer=staff)
    return {"url": url, "expires": expires, "sha256": answer.file_sha256}


def signed_file_url(
    settings: Settings, answer_id: int, relative: bool = False, *, viewer: Principal
) -> tuple[str, int]:
    """A URL to an uploaded answer that works for URL_LIFETIME_SECONDS, and its expiry. It names the
    user it is for: once they may no longer see the application (a reviewer taken off the review, a
    recruiter taken off the job, an account disabled), the URL stops working too."""
    expires = int(time.time()) + URL_LIFETIME_SECONDS
    who = viewer.user_id or ""
    signature = _signature(settings, answer_id, expires, who)
    base = "" if relative else settings.PUBLIC_URL
    query = f"expires={expires}" + (f"&viewer={who}" if who else "") + f"&signature={signature}"
    return f"{base}/files/{answer_id}?{query}", expires


@router.get("/files/{answer_id}", include_in_schema=False)
def download(
    answer_id: Annotated[int, Path(ge=1, le=MAX_INT64)],
    expires: Annotated[int, Query(ge=0, le=MAX_INT64)],
    signature: Annotated[str, Query(min_length=64, max_length=64)],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    if not hmac.compare_digest(signature, _signature(settings, answer_id, expires, viewer)):
        raise Forbidden("this file link is not valid")
    if time.time() >= expires:
        raise Gone("this file link has expired; ask for a new one")
    answer = session.get(Answer, answer_id)
    if answer is None or answer.file_sha256 is None:
        raise NotFound("the file is no longer stored")
    if viewer:  # the user it was issued to must still be allowed to see the application
        user = session.get(User, viewer)
        if user is None or user.disabled_at is not None:
            raise Forbidden("this file link was issued to an account that is no longer active")
        load_application(
            session,
            answer.application_id,
            Principal(name=user.id, role=user.role, user_id=user.id, person_id=user.person_id),
        )
    # Served under a neutral name whatever the stored one (files kept from before names were neutral).
    shown = Answer.model_validate(
        answer.model_dump() | {"file_name": neutral_file_name(answer.question_id, answer.file_name)}
    )
    return serve_answer_file(request, session, settings, shown)  # decrypted as it streams
