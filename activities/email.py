"""Email: render a Jinja2 template (plain text + HTML) and send it over SMTP, exactly once.

Each intended message is a row in the outbox, keyed by (application id, message key), with a stable
Message-ID. The row is marked sent in its own commit right after the relay accepts the message, so a
later failure in the same attempt, or any retry, finds it sent and does not send again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, parseaddr
from zoneinfo import ZoneInfo

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from offhours import TEMPLATES_DIR
from offhours.contracts import EmailRequest, EmailResult
from offhours.db import session_scope
from offhours.links import make_candidate_token
from offhours.models import Application, Candidate, EmailMessage, Job, utcnow
from offhours.settings import Settings

PERMANENT = "PermanentEmailFailure"


def template_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class RenderedEmail:
    recipient: str
    subject: str
    text: str
    html: str


def format_deadline(deadline: datetime | None, timezone: str) -> str:
    if deadline is None:
        return ""
    local = deadline.astimezone(ZoneInfo(timezone))
    return local.strftime("%A %d %B %Y, %H:%M ") + f"({timezone})"


class EmailActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.templates = template_environment()
        self.domain = parseaddr(settings.MAIL_FROM)[1].rpartition("@")[2] or "offhours.localhost"

    def message_id(self, request: EmailRequest) -> str:
        return f"<{request.message_key}.{request.application_id}@{self.domain}>"

    def render(self, request: EmailRequest) -> RenderedEmail:
        with session_scope(self.engine) as session:
            application = session.get(Application, request.application_id)
            if application is None:
                raise ApplicationError(
                    f"application {request.application_id} not found", type=PERMANENT, non_retryable=True
                )
            candidate = session.get(Candidate, application.candidate_id)
            job = session.get(Job, application.job_id)
            assert candidate is not None and job is not None
        deadline = request.deadline or application.deadline
        grace = timedelta(days=self.settings.CANDIDATE_LINK_GRACE_DAYS)
        link_expires = (deadline or utcnow()) + grace
        token = make_candidate_token(application.id, link_expires, self.settings.secret_key)
        context = {
            "candidate_name": candidate.name,
            "job_title": job.title,
            "link": f"{self.settings.PUBLIC_URL}/c/{token}",
            "deadline": format_deadline(deadline, candidate.timezone),
            "decision_reason": application.decision_reason,
            **request.extra,
        }
        base = f"emails/{request.template}"
        subject = self.templates.get_template(f"{base}.subject.txt").render(context).strip()
        return RenderedEmail(
            recipient=candidate.email,
            subject=" ".join(subject.split()),
            text=self.templates.get_template(f"{base}.txt").render(context),
            html=self.templates.get_template(f"{base}.html").render(context),
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
        return message

    async def deliver(self, message: MimeMessage) -> None:
        s = self.settings
        await aiosmtplib.send(
            message,
            hostname=s.SMTP_HOST,
            port=s.SMTP_PORT,
            username=s.SMTP_USERNAME,
            password=s.SMTP_PASSWORD,
            use_tls=s.SMTP_TLS == "tls",
            start_tls=s.SMTP_TLS == "starttls",
            timeout=s.SMTP_TIMEOUT_SECONDS,
        )

    @activity.defn(name="send_email")
    async def send_email(self, request: EmailRequest) -> EmailResult:
        rendered = await asyncio.to_thread(self.render, request)
        row, already_sent = await asyncio.to_thread(self._claim, request, rendered)
        if already_sent:
            activity.logger.info("email %s already sent as %s", request.message_key, row.message_id)
            return EmailResult(message_id=row.message_id, sent_now=False)
        try:
            await self.deliver(self.build(rendered, row.message_id))
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPSenderRefused) as error:
            await asyncio.to_thread(self._mark, row.id, "failed", str(error))
            raise ApplicationError(
                f"relay refused the message: {error}", type=PERMANENT, non_retryable=True
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            permanent = 500 <= error.code < 600
            await asyncio.to_thread(self._mark, row.id, "failed" if permanent else "pending", str(error))
            if permanent:
                raise ApplicationError(
                    f"relay refused the message: {error}", type=PERMANENT, non_retryable=True
                ) from error
            raise
        except (aiosmtplib.SMTPException, OSError) as error:
            await asyncio.to_thread(self._mark, row.id, "pending", str(error))
            raise
        await asyncio.to_thread(self._mark, row.id, "sent")
        return EmailResult(message_id=row.message_id, sent_now=True)
