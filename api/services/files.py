"""Uploaded answers for staff: short-lived signed URLs, never a guessable path, each named for the
user it was issued to; served under a neutral name, never the candidate's own."""

from __future__ import annotations

import hashlib
import hmac
import time

from sqlmodel import Session, col, select

from api.deps import Principal
from api.errors import Forbidden, Gone, NotFound
from api.services.access import load_application
from offhours.models import Answer, Application, User
from offhours.settings import Settings

URL_LIFETIME_SECONDS = 300


def _signature(settings: Settings, answer_id: int, expires: int, viewer: str = "") -> str:
    """The URL's HMAC; `viewer` is the user it was issued to, whose access is checked again when
    it is used (ADMIN_TOKEN, which has no user, gets URLs without one)."""
    message = f"offhours.file.v1:{answer_id}:{expires}" + (f":{viewer}" if viewer else "")
    return hmac.new(settings.secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


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


def file_link(
    session: Session, settings: Settings, staff: Principal, application: Application, question_id: str
) -> dict[str, str | int]:
    """A signed URL to the application's uploaded answer to `question_id`, its expiry and digest."""
    answer = session.exec(
        select(Answer).where(Answer.application_id == application.id, Answer.question_id == question_id)
    ).first()
    if answer is None or answer.id is None or answer.file_sha256 is None:
        raise NotFound(f"application '{application.id}' has no uploaded answer to '{question_id}'")
    url, expires = signed_file_url(settings, answer.id, viewer=staff)
    return {"url": url, "expires": expires, "sha256": answer.file_sha256}


def media_urls(session: Session, settings: Settings, staff: Principal, application_id: str) -> dict[str, str]:
    """Short-lived signed URLs to the application's uploaded answers, by question, for `staff` only."""
    rows = session.exec(
        select(Answer).where(Answer.application_id == application_id, col(Answer.file_sha256).is_not(None))
    ).all()
    return {
        r.question_id: signed_file_url(settings, r.id, relative=True, viewer=staff)[0]
        for r in rows
        if r.id is not None
    }


def linked_answer(
    session: Session, settings: Settings, answer_id: int, expires: int, signature: str, viewer: str
) -> Answer:
    """The answer a signed URL points at, once the URL is checked (signature, expiry, the user it was
    issued to still allowed to see the application), under its neutral name."""
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
    return Answer.model_validate(
        answer.model_dump() | {"file_name": neutral_file_name(answer.question_id, answer.file_name)}
    )


def neutral_file_name(question_id: str, file_name: str | None) -> str:
    """The name an uploaded answer is shown and downloaded under: `answer-<question>.<ext>`, never
    the candidate's own (files uploaded before names were neutral keep only their extension)."""
    name = file_name or ""
    extension = name.rsplit(".", 1)[1] if "." in name else ""
    if not (extension.isascii() and extension.isalnum() and len(extension) <= 10):
        extension = ""
    return f"answer-{question_id}.{extension}" if extension else f"answer-{question_id}"
