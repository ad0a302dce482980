"""Uploaded files for staff: only through short-lived signed URLs, never from a guessable path."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from sqlmodel import select

from api.deps import SessionDep, SettingsDep, StaffDep
from api.errors import Forbidden, Gone, NotFound
from api.routes.applications import load_application
from offhours.models import Answer
from offhours.settings import Settings
from offhours.storage import FileStore

router = APIRouter(tags=["files"])
URL_LIFETIME_SECONDS = 300


def _signature(settings: Settings, answer_id: int, expires: int) -> str:
    message = f"offhours.file.v1:{answer_id}:{expires}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


@router.get(
    "/api/v1/applications/{application_id}/answers/{question_id}/file",
    summary="A signed URL to an uploaded answer, valid for five minutes",
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
    url, expires = signed_file_url(settings, answer.id)
    return {"url": url, "expires": expires, "sha256": answer.file_sha256}


def signed_file_url(settings: Settings, answer_id: int, relative: bool = False) -> tuple[str, int]:
    """A URL to an uploaded answer that works for URL_LIFETIME_SECONDS, and its expiry."""
    expires = int(time.time()) + URL_LIFETIME_SECONDS
    signature = _signature(settings, answer_id, expires)
    base = "" if relative else settings.PUBLIC_URL
    return f"{base}/files/{answer_id}?expires={expires}&signature={signature}", expires


@router.get("/files/{answer_id}", include_in_schema=False)
def download(
    answer_id: int,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(min_length=64, max_length=64)],
    session: SessionDep,
    settings: SettingsDep,
) -> FileResponse:
    if not hmac.compare_digest(signature, _signature(settings, answer_id, expires)):
        raise Forbidden("this file link is not valid")
    if time.time() >= expires:
        raise Gone("this file link has expired; ask for a new one")
    answer = session.get(Answer, answer_id)
    if answer is None or answer.file_sha256 is None:
        raise NotFound("the file is no longer stored")
    path = FileStore(settings.DATA_DIR).path_for(answer.file_sha256)
    if not path.exists():
        raise NotFound("the file is no longer stored")
    return FileResponse(
        path,
        media_type=answer.content_type or "application/octet-stream",
        filename=answer.file_name or "answer",
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )
