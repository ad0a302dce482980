"""Personal text leaves the API by reference only.

Before an update reaches a workflow, every piece of personal free text it carries (a written answer,
a scorecard's notes, a decision's, a withdrawal's or an extension's reason, edited feedback, a stage
outcome's note) is stored sealed with the application's data key and replaced by its id and sha256.
One place for every caller (JSON API, staff pages, candidate portal), so none can forget it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from api.errors import Gone, Unprocessable
from offhours.contracts import (
    AnswerInput,
    DecisionInput,
    ExtensionRequest,
    FeedbackRelease,
    ScorecardInput,
    StageOutcome,
    WithdrawInput,
)
from offhours.models import Answer, Application, LegalHold, PersonalText
from offhours.settings import Settings
from offhours.vault import Erased, TextRef, Vault
from pipelines.base import pipeline_from_snapshot

# (type, the plain field, the id field, the digest field, what the text is)
FIELDS: tuple[tuple[type, str, str, str, str], ...] = (
    (ScorecardInput, "notes", "notes_id", "notes_sha256", "scorecard_notes"),
    (DecisionInput, "reason", "reason_id", "reason_sha256", "decision_reason"),
    (WithdrawInput, "reason", "reason_id", "reason_sha256", "withdrawal_reason"),
    (ExtensionRequest, "reason", "reason_id", "reason_sha256", "extension_reason"),
    (FeedbackRelease, "text", "text_id", "text_sha256", "feedback_text"),
    (StageOutcome, "note", "note_id", "note_sha256", "stage_outcome_note"),
)


def settings_of(session: Session) -> Settings:
    settings = session.info.get("settings")
    if not isinstance(settings, Settings):
        raise RuntimeError("the request's session carries no settings (api.deps.get_session sets them)")
    return settings


def seal_personal(
    session: Session, application: Application, arg: Any, *, key: str | None = None
) -> tuple[Any, list[TextRef]]:
    """`arg` with its personal text stored and replaced by references, and the references made (to
    forget if the workflow refuses the update). Commits, so that the worker can read them. With a
    `key` (the update's id), the references' ids derive from it: a retry of the update stores
    nothing new and refers to the same texts, as Temporal will answer with the first update."""
    if arg is None or not dataclasses.is_dataclass(arg) or isinstance(arg, type):
        return arg, []
    vault: Vault | None = None
    refs: list[TextRef] = []

    def store(purpose: str, text: str) -> TextRef:
        nonlocal vault
        vault = vault or Vault(settings_of(session))
        try:
            text_id = (
                None if key is None else "txt_" + hashlib.sha256(f"{key}:{purpose}".encode()).hexdigest()[:20]
            )
            ref = vault.store_text(session, application.id, purpose, text, text_id=text_id)
        except Erased:
            raise Gone(f"application '{application.id}' has been erased; it takes nothing more") from None
        refs.append(ref)
        return ref

    if isinstance(arg, AnswerInput) and arg.kind == "text" and arg.text is not None:
        question = pipeline_from_snapshot(application.pipeline_snapshot).question(arg.question_id)
        if question is not None and question.type == "text":
            if not arg.text.strip():
                raise Unprocessable(f"question '{question.id}' needs a non-empty answer")
            if len(arg.text) > question.max_length:
                raise Unprocessable(f"answer to '{question.id}' exceeds {question.max_length} characters")
            ref = store("answer", arg.text)
            arg = dataclasses.replace(
                arg, text=None, text_id=ref.id, text_sha256=ref.sha256, text_length=len(arg.text)
            )
    for kind, plain, id_field, digest_field, purpose in FIELDS:
        if not isinstance(arg, kind):
            continue
        text = getattr(arg, plain)
        if text is None:
            continue
        if isinstance(arg, FeedbackRelease) and not text.strip():
            raise Unprocessable("edited feedback must not be empty")
        if not text.strip():
            arg = dataclasses.replace(arg, **{plain: None})  # type: ignore[type-var]
            continue
        ref = store(purpose, text)
        arg = dataclasses.replace(arg, **{plain: None, id_field: ref.id, digest_field: ref.sha256})  # type: ignore[type-var]
    if refs:
        session.commit()
    return arg, refs


def forget(session: Session, refs: list[TextRef]) -> None:
    """The workflow refused: the texts stored for the update are deleted again (not those an
    earlier attempt of the same call stored: its update may refer to them)."""
    refs = [ref for ref in refs if ref.created]
    if not refs:
        return
    session.rollback()
    for ref in refs:
        row = session.get(PersonalText, ref.id)
        if row is not None:
            session.delete(row)
    session.commit()


def answer_text(session: Session, answer: Answer) -> str | None:
    """A written answer's text: sealed since Step 6 (None once erased), plain before."""
    if answer.text_id is None:
        return answer.text
    return Vault(settings_of(session)).read_text(session, answer.text_id)


def retention_until(application: Application) -> datetime | None:
    if application.erased_at is not None or application.closed_at is None:
        return None
    if application.retention_days is None:
        return None
    return application.closed_at + timedelta(days=application.retention_days)


def privacy_timeline(session: Session, application: Application) -> list[dict[str, Any]]:
    """Legal holds and the erasure, for the audit timeline (kept in the product tables, since an
    erasure must not touch the immutable history)."""
    entries: list[dict[str, Any]] = []
    holds = session.exec(select(LegalHold).where(LegalHold.application_id == application.id)).all()
    for hold in holds:
        entries.append(
            {
                "event_id": None,
                "at": hold.placed_at.isoformat(),
                "what": f"Legal hold placed: {hold.reason}",
                "by": hold.placed_by,
            }
        )
        if hold.released_at is not None:
            entries.append(
                {
                    "event_id": None,
                    "at": hold.released_at.isoformat(),
                    "what": "Legal hold released",
                    "by": hold.released_by,
                }
            )
    if application.erased_at is not None:
        reason = f", reason: {application.erasure_reason}" if application.erasure_reason else ""
        entries.append(
            {
                "event_id": None,
                "at": application.erased_at.isoformat(),
                "what": f"Erased on {application.erased_at:%Y-%m-%d %H:%M} UTC by {application.erased_by}{reason}",
                "by": application.erased_by,
            }
        )
    return sorted(entries, key=lambda e: str(e["at"]))
