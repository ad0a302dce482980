"""Email: render a Jinja2 template (plain text + HTML) and send it over SMTP, exactly once.

Each intended message is a row in the outbox, keyed by (application id, message key), with a stable
Message-ID. The row is marked sent in its own commit right after the relay accepts the message, so a
later failure in the same attempt, or any retry, finds it sent and does not send again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.email_text import (
    calendar_event,
    format_deadline,
    header_text,
    mail_domain,
    slot_event_uid,
    template_environment,
)
from activities.rollups import tracked
from offhours.contracts import EmailRequest, EmailResult
from offhours.db import session_scope
from offhours.links import make_candidate_token
from offhours.models import (
    Application,
    Candidate,
    CandidateFeedback,
    ContactMessage,
    EmailMessage,
    Job,
    invited_as,
    utcnow,
)
from offhours.settings import Settings
from offhours.vault import Vault
from pipelines.people import PEOPLE

PERMANENT = "PermanentEmailFailure"


@dataclass(frozen=True)
class _Facts:
    application: Application
    candidate: Candidate
    job_title: str
    feedback: CandidateFeedback | None
    message: str | None
    reason: str | None


@dataclass(frozen=True)
class RenderedEmail:
    recipient: str
    subject: str
    text: str
    html: str
    ics: str | None = None


class EmailActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.html_templates = template_environment(html=True)
        self.text_templates = template_environment(html=False)
        self.domain = mail_domain(settings.MAIL_FROM)
        # Recording a message as sent, once the relay has it, waits behind nothing else this worker
        # does in threads (rendering, other activities' reads): the shorter that moment, the less
        # likely a worker lost in it sends the message again.
        self._marking = ThreadPoolExecutor(max_workers=2, thread_name_prefix="email-sent")

    def message_id(self, request: EmailRequest) -> str:
        return f"<{request.message_key}.{request.application_id}@{self.domain}>"

    def render(self, request: EmailRequest) -> RenderedEmail:
        facts = self._facts(request)
        application, candidate = facts.application, facts.candidate
        staff = PEOPLE.get(request.to_staff) if request.to_staff else None
        if request.to_staff and staff is None:
            raise ApplicationError(
                f"staff member '{request.to_staff}' is not in the directory",
                type=PERMANENT,
                non_retryable=True,
            )
        zone = "UTC" if staff else candidate.timezone
        context = self._common_context(request, facts, zone)
        if staff is not None:
            # Staff messages name no candidate: reviews are blind by default.
            context |= self._staff_context(application.id, staff.name, staff.id)
            recipient = staff.email
        else:
            context |= self._candidate_context(request, facts)
            recipient = candidate.email
        base = f"emails/{request.template}"
        subject = self.text_templates.get_template(f"{base}.subject.txt").render(context)
        attachment = (
            self.calendar_invite(request, facts.job_title, candidate.email) if request.attach_ics else None
        )
        return RenderedEmail(
            recipient=recipient,
            subject=header_text(subject),
            text=self.text_templates.get_template(f"{base}.txt").render(context),
            html=self.html_templates.get_template(f"{base}.html").render(context),
            ics=attachment,
        )

    def _facts(self, request: EmailRequest) -> _Facts:
        """What the message needs from the database, read in one session."""
        with session_scope(self.engine) as session:
            application = session.get(Application, request.application_id)
            if application is None:
                raise ApplicationError(
                    f"application {request.application_id} not found", type=PERMANENT, non_retryable=True
                )
            candidate = session.get(Candidate, application.candidate_id)
            job = session.get(Job, application.job_id)
            assert candidate is not None
            assert job is not None
            candidate = invited_as(candidate, application)  # as this job's invitation named them
            feedback = session.exec(
                select(CandidateFeedback)
                .where(CandidateFeedback.application_id == application.id)
                .order_by(col(CandidateFeedback.id).desc())
            ).first()
            # Questions and answers between candidate and contact: the text stays in the database,
            # the workflow carries only the message id.
            message_id = request.extra.get("message_id")
            message = session.get(ContactMessage, message_id) if message_id else None
            if message_id and message is None:
                raise ApplicationError(f"message {message_id} is not in the database yet")
            # Personal text the workflow refers to by id (an extension request's reason, say).
            reason_id = request.extra.get("reason_id")
            reason = Vault(self.settings).read_text(session, reason_id) if reason_id else None
        return _Facts(application, candidate, job.title, feedback, message.body if message else None, reason)

    def _common_context(self, request: EmailRequest, facts: _Facts, zone: str) -> dict[str, Any]:
        snapshot = facts.application.pipeline_snapshot
        deadline = request.deadline or facts.application.deadline
        contact = PEOPLE.get(snapshot.get("contact") or "")
        extra: dict[str, Any] = dict(request.extra)
        for key in ("slots", "modules"):
            if key in extra:
                extra[key] = json.loads(extra[key])
        if request.extra.get("reason_id"):
            extra["reason"] = facts.reason or ""
        return {
            "job_title": facts.job_title,
            "pipeline_title": snapshot.get("title", ""),
            "deadline": format_deadline(deadline, zone),
            "contact_name": contact.name if contact else None,
            "when": lambda iso: format_deadline(datetime.fromisoformat(iso), zone),
            "message": facts.message,
            **extra,
        }

    def _staff_context(self, application_id: str, staff_name: str, staff_id: str) -> dict[str, Any]:
        """Links to the staff pages (signed in with a browser session), never to JSON endpoints: each
        goes to the part of the application page where the email's action is taken."""
        del staff_id  # the reviewer is whoever signs in; the link names no one
        page = f"{self.settings.PUBLIC_URL}/staff/applications/{application_id}"
        return {
            "staff_name": staff_name,
            "application_id": application_id,
            "staff_link": page,
            "decision_link": f"{page}#decision",
            "extension_link": f"{page}#extension",
            "messages_link": f"{page}#messages",
            "slots_link": f"{page}#slots",
            "outcome_link": f"{page}#outcome",
            # Reviewers get the blind, independent scoring page, never the full application.
            "review_link": f"{self.settings.PUBLIC_URL}/staff/reviews/{application_id}",
        }

    def _candidate_context(self, request: EmailRequest, facts: _Facts) -> dict[str, Any]:
        application = facts.application
        deadline = request.deadline or application.deadline
        now = utcnow()
        link_expires = max(deadline or now, now) + timedelta(days=self.settings.CANDIDATE_LINK_GRACE_DAYS)
        token = make_candidate_token(
            application.id, link_expires, self.settings.secret_key, application.link_generation
        )
        reason_label = next(
            (
                r["label"]
                for st in application.pipeline_snapshot.get("stages", [])
                for r in st.get("reason_codes", [])
                if r["code"] == application.decision_reason_code
            ),
            None,
        )
        return {
            "candidate_name": facts.candidate.name,
            "link": f"{self.settings.PUBLIC_URL}/c/{token}",
            "decision_reason": application.decision_reason,
            "reason_label": reason_label,
            "feedback": facts.feedback,
        }

    def calendar_invite(self, request: EmailRequest, job_title: str, attendee: str) -> str:
        """An iCalendar event (RFC 5545) for a booked slot (activities/email_text.calendar_event)."""
        return calendar_event(
            uid=slot_event_uid(request.application_id, request.message_key, self.settings.MAIL_FROM),
            start=datetime.fromisoformat(request.extra["slot"]),
            duration_minutes=int(request.extra["duration_minutes"]),
            title=request.extra.get("title", "Interview"),
            job_title=job_title,
            location=request.extra.get("location", ""),
            mail_from=self.settings.MAIL_FROM,
            attendee=attendee,
            stamp=utcnow(),
        )

    def _claim(self, request: EmailRequest, rendered: RenderedEmail) -> tuple[EmailMessage, bool]:
        """Get or create the outbox row; True when it was already sent."""
        with session_scope(self.engine) as session:
            row = session.exec(
                select(EmailMessage).where(
                    EmailMessage.application_id == request.application_id,
                    EmailMessage.message_key == request.message_key,
                )
            ).first()
            if row is None:
                row = EmailMessage(
                    application_id=request.application_id,
                    message_key=request.message_key,
                    message_id=self.message_id(request),
                    template=request.template,
                    recipient=rendered.recipient,
                    subject=rendered.subject,
                )
            if row.status == "sent":
                return row, True
            row.attempts += 1
            session.add(row)
        return row, False

    def _mark(self, row_id: int | None, status: str, error: str | None = None) -> None:
        with session_scope(self.engine) as session:
            row = session.get(EmailMessage, row_id)
            assert row is not None
            # a reminder sent moves the application's reminder window (analytics)
            counting: AbstractContextManager[None] = (
                tracked(session, row.application_id) if row.template == "reminder" else nullcontext()
            )
            with counting:
                row.status = status
                row.last_error = error
                if status == "sent":
                    row.sent_at = datetime.now(UTC)
                session.add(row)

    def build(self, rendered: RenderedEmail, message_id: str) -> MimeMessage:
        message = MimeMessage()
        message["From"] = self.settings.MAIL_FROM
        message["To"] = rendered.recipient
        message["Subject"] = rendered.subject
        message["Message-ID"] = message_id
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        if rendered.ics is not None:
            message.add_attachment(
                rendered.ics.encode(),
                maintype="text",
                subtype="calendar",
                filename="interview.ics",
                params={"method": "REQUEST"},
            )
        return message

    async def deliver(
        self, message: MimeMessage, accepted: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Hand the message to the relay. `accepted` runs as soon as the relay has taken it (its
        answer to DATA), before the goodbye: what records it as sent then leaves only the time of
        one database write in which a lost worker would send it again."""
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.SMTP_HOST,
            port=s.SMTP_PORT,
            username=s.SMTP_USERNAME,
            password=s.SMTP_PASSWORD,
            use_tls=s.SMTP_TLS == "tls",
            start_tls=s.SMTP_TLS == "starttls",
            timeout=s.SMTP_TIMEOUT_SECONDS,
        )
        await client.connect()  # with STARTTLS and the login the settings ask for
        try:
            await client.send_message(message)
        except BaseException:
            client.close()
            raise
        if accepted is not None:
            try:
                await accepted()
            except BaseException:
                client.close()
                raise
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):  # taken already: a lost goodbye changes nothing
            client.close()

    @activity.defn(name="send_email")
    async def send_email(self, request: EmailRequest) -> EmailResult:
        rendered = await asyncio.to_thread(self.render, request)
        row, already_sent = await asyncio.to_thread(self._claim, request, rendered)
        if already_sent:
            activity.logger.info("email %s already sent as %s", request.message_key, row.message_id)
            return EmailResult(message_id=row.message_id, sent_now=False)

        async def sent() -> None:
            await asyncio.get_running_loop().run_in_executor(self._marking, self._mark, row.id, "sent")

        try:
            await self.deliver(self.build(rendered, row.message_id), accepted=sent)
        # The relay's words often quote the address: they stay in the outbox row (erased with the
        # application), and what reaches the workflow history names only the kind of failure.
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPSenderRefused) as error:
            await asyncio.to_thread(self._mark, row.id, "failed", str(error))
            raise ApplicationError(
                f"relay refused message {request.message_key} ({type(error).__name__})",
                type=PERMANENT,
                non_retryable=True,
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            permanent = 500 <= error.code < 600
            await asyncio.to_thread(self._mark, row.id, "failed" if permanent else "pending", str(error))
            raise ApplicationError(
                f"relay answered {error.code} to message {request.message_key}",
                type=PERMANENT if permanent else "TemporaryEmailFailure",
                non_retryable=permanent,
            ) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            await asyncio.to_thread(self._mark, row.id, "pending", str(error))
            raise ApplicationError(
                f"relay unreachable for message {request.message_key} ({type(error).__name__})",
                type="TemporaryEmailFailure",
            ) from None
        return EmailResult(message_id=row.message_id, sent_now=True)
