"""Retention and erasure: the side effects of the privacy workflow.

Erasure destroys the application's data key (everything sealed with it becomes unreadable, backups
included), deletes its personal content (answers, files, notes, reasons, messages, what its emails
said and to whom) and the candidate's name, email and time zone unless another application of theirs
still needs them. It keeps ids, timestamps, stage outcomes, scores, decisions and digests, so that
the timeline, replay and the archive's hash chain keep working. SQLite is told to overwrite what it
deletes, and its write-ahead log is truncated, so nothing readable stays in the database files.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import delete, or_, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.rollups import tracked
from activities.webhooks import emit
from offhours import ids
from offhours.contracts import ClosedNotice, EraseApplication, PrivacyInput, RetentionNotice
from offhours.db import session_scope
from offhours.models import (
    Answer,
    Application,
    AssessmentResult,
    Candidate,
    CandidateFeedback,
    ContactMessage,
    DeletionRequest,
    EmailMessage,
    IdempotentRequest,
    PersonalText,
    Scorecard,
    SelfIdentification,
)
from offhours.settings import Settings
from offhours.states import ApplicationStatus
from offhours.touch import touch
from offhours.vault import Vault

log = logging.getLogger("offhours.privacy")


def retention_days(application: Application, settings: Settings) -> int:
    days = application.pipeline_snapshot.get("retention_days")
    return int(days) if days else settings.RETENTION_DAYS


async def signal_privacy(
    client: Client, task_queue: str, application_id: str, signal: str, argument: object
) -> bool:
    """Signal the application's privacy workflow, starting it if need be. False when it has already
    erased the application (its run is closed and is not started again)."""
    try:
        await client.start_workflow(
            "Privacy",
            PrivacyInput(application_id),
            id=ids.privacy_workflow(application_id),
            task_queue=task_queue,
            start_signal=signal,
            start_signal_args=[argument],
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return False
    except RPCError as error:
        if error.status == RPCStatusCode.ALREADY_EXISTS:
            return False
        raise
    return True


def secure_sqlite_cleanup(engine: Engine) -> None:
    """Make deleted content unrecoverable from the SQLite files: the pages it lived in are
    overwritten (secure_delete is on for every connection) and the write-ahead log, which still
    holds older copies of those pages, is checkpointed and truncated."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


class PrivacyActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    @activity.defn(name="schedule_retention")
    async def schedule_retention(self, notice: RetentionNotice) -> None:
        with session_scope(self.engine) as session:
            application = session.get(Application, notice.application_id)
            if application is None or application.erased_at is not None:
                return
            days = retention_days(application, self.settings)
            application.retention_days = days
            touch(application)
            session.add(application)
        await signal_privacy(
            activity.client(),
            activity.info().task_queue,
            notice.application_id,
            "closed",
            ClosedNotice(notice.closed_at, days),
        )

    @activity.defn(name="erase_application")
    async def erase_application(self, request: EraseApplication) -> None:
        await self._close_workflow(request.application_id)
        activity.heartbeat()
        erased = self._erase_rows(request)
        if erased:
            from offhours.storage import erase_files

            with Session(self.engine) as session:  # files stored in clear before sealing go too
                erase_files(self.settings, request.application_id, session)
        secure_sqlite_cleanup(self.engine)

    async def _close_workflow(self, application_id: str) -> None:
        """An open application ends with its erasure: its workflow (and its review tasks, by their
        parent close policy) is terminated. Its history stays, for the audit."""
        handle = activity.client().get_workflow_handle(ids.application_workflow(application_id))
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return
            raise
        if description.status == WorkflowExecutionStatus.RUNNING:
            try:
                await handle.terminate(reason="erased")
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise

    def _erase_rows(self, request: EraseApplication) -> bool:
        now = datetime.now(UTC)
        application_id = request.application_id
        with session_scope(self.engine) as session, tracked(session, application_id):
            application = session.get(Application, application_id)
            if application is None:
                return False
            Vault(self.settings).destroy(session, application_id)
            for statement in (
                update(PersonalText)
                .where(col(PersonalText.application_id) == application_id)
                .values(sealed=None),
                # file names from before neutral naming could name the candidate
                update(Answer)
                .where(col(Answer.application_id) == application_id)
                .values(text=None, file_name=None),
                # what was typed into an assessment goes; its points and pass/fail stay
                update(AssessmentResult)
                .where(col(AssessmentResult.application_id) == application_id)
                .values(answers={}),
                update(Scorecard).where(col(Scorecard.application_id) == application_id).values(notes=None),
                update(ContactMessage)
                .where(col(ContactMessage.application_id) == application_id)
                .values(body=""),
                update(DeletionRequest)
                .where(col(DeletionRequest.application_id) == application_id)
                .values(reason=None, completed_at=now),
                update(CandidateFeedback)
                .where(col(CandidateFeedback.application_id) == application_id)
                .values(edited_text=None),
                update(EmailMessage)
                .where(col(EmailMessage.application_id) == application_id)
                .values(recipient="", subject="", last_error=None),
                # the voluntary self-identification goes with the rest (aggregates lose one person)
                delete(SelfIdentification).where(col(SelfIdentification.application_id) == application_id),
                # answers kept for retried calls (sealed with the callers' keys; gone in any case)
                delete(IdempotentRequest).where(
                    or_(
                        col(IdempotentRequest.application_id) == application_id,
                        col(IdempotentRequest.job_id) == application.job_id,  # bulk invitations' reports
                    )
                ),
            ):
                session.execute(statement)
            self._forget_candidate(session, application)
            application.decision_reason = None
            application.candidate_name, application.candidate_timezone = "", "UTC"
            was_open = not ApplicationStatus(application.status).is_final
            if was_open:
                application.status = ApplicationStatus.withdrawn
                application.stage = "closed"
            application.closed_at = application.closed_at or now
            application.erased_at = application.erased_at or now
            application.erased_by = application.erased_by or request.erased_by
            touch(application)
            session.add(application)
            if was_open:
                emit(session, application, "application.closed", "closed", now, outcome="withdrawn")
            emit(session, application, "application.erased", "erased", now)
        log.info("application %s erased (%s)", application_id, request.source)
        return True

    def _forget_candidate(self, session: Session, application: Application) -> None:
        """The candidate's name, email and time zone go, unless another application that is not
        erased still needs them."""
        others = session.exec(
            select(Application.id).where(
                Application.candidate_id == application.candidate_id,
                Application.id != application.id,
                col(Application.erased_at).is_(None),
            )
        ).first()
        if others is not None:
            return
        candidate = session.get(Candidate, application.candidate_id)
        if candidate is None:
            return
        candidate.name = ""
        candidate.email = f"erased-{candidate.id}@erased.invalid"
        candidate.timezone = "UTC"
        session.add(candidate)
