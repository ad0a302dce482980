"""Uploaded files for staff: only through short-lived signed URLs, never from a guessable path."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import SessionDep, SettingsDep, StaffDep
from api.errors import STAFF_ERRORS, errors
from api.schemas import FileLinkPublic
from api.services import files
from api.services.access import load_application
from api.uploads import serve_answer_file

router = APIRouter(tags=["files"])
MAX_INT64 = 2**63 - 1  # the database's integers


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
    return files.file_link(session, settings, staff, application, question_id)


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
    answer = files.linked_answer(session, settings, answer_id, expires, signature, viewer)
    return serve_answer_file(request, session, settings, answer)  # decrypted as it streams
