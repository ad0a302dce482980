"""The mail reader: a real SMTP server (aiosmtpd) catching every message the product sends, the
messages as a mail client shows them, and the candidate links they carry."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

if TYPE_CHECKING:
    from tests.support.stack import Stack


@dataclass
class CaughtMail:
    envelope_from: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        # Long subjects are folded onto continuation lines; a mail client shows them unfolded.
        return " ".join(str(self.message["Subject"]).split())

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())

    def link(self) -> str:
        match = re.search(r"https?://\S+/c/[A-Za-z0-9_.\-]+", self.text)
        assert match, f"no candidate link in: {self.text}"
        return match.group(0)


@dataclass
class Mailbox:
    """Messages received by the test SMTP server, with helpers to wait for them."""

    messages: list[CaughtMail] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered with 550

    def to(self, recipient: str) -> list[CaughtMail]:
        return [m for m in self.messages if recipient in m.recipients]

    async def wait_for(self, recipient: str, count: int, timeout: float = 20.0) -> list[CaughtMail]:
        async with asyncio.timeout(timeout):
            while len(self.to(recipient)) < count:
                await asyncio.sleep(0.05)
        return self.to(recipient)

    async def settle(self, seconds: float = 1.0) -> None:
        """Give in-flight activities time to deliver anything they would wrongly send."""
        await asyncio.sleep(seconds)


class MailHandler:
    """aiosmtpd handler filing each message received into a Mailbox."""

    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(
        self,
        server: SMTP,  # noqa: ARG002 (aiosmtpd's hook)
        session: Session,  # noqa: ARG002
        envelope: Envelope,
        address: str,
        options: list[str],  # noqa: ARG002
    ) -> str:
        if address in self.box.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: ARG002 (aiosmtpd's hook)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.box.messages.append(CaughtMail(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted"


def start_smtp(box: Mailbox, port: int) -> Controller:
    """A started SMTP server on 127.0.0.1:`port` delivering into `box`; stop() it when done."""
    controller = Controller(MailHandler(box), hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def smtp_port(controller: Controller) -> int:
    return int(controller.port)


def token_from(link: str) -> str:
    return link.rsplit("/c/", 1)[1]


def subject(mail: CaughtMail) -> str:
    """The subject as a mail client shows it: a long subject is folded right after 'Subject:', and
    Python's parser keeps the folding space; neither the space nor the fold is the product's."""
    return " ".join(mail.subject.split())


def subjects(mails: list[CaughtMail]) -> list[str]:
    return [subject(mail) for mail in mails]


def message_key(mail: CaughtMail) -> str:
    """What an email is (invite, msg-..., deletion-requested...): its Message-ID before the application
    id. A long Message-ID may arrive folded onto a continuation line, hence the strip."""
    return mail.message_id.strip().removeprefix("<").split(".")[0]


async def mail_with_key(stack: Stack, address: str, key: str, timeout: float = 20.0) -> CaughtMail:
    """The email whose Message-ID starts with `key` (each email type has its own key)."""
    async with asyncio.timeout(timeout):
        while True:
            found = [m for m in stack.mailbox.to(address) if message_key(m).startswith(key)]
            if found:
                return found[0]
            await asyncio.sleep(0.05)


def calendar(mail: CaughtMail) -> dict[str, str]:
    """The single text/calendar attachment of a message, as its iCalendar properties."""
    attachments = [
        part for part in mail.message.iter_attachments() if part.get_content_type() == "text/calendar"
    ]
    assert len(attachments) == 1, [part.get_content_type() for part in mail.message.iter_attachments()]
    [part] = attachments
    assert part.get_filename() == "interview.ics"
    content = part.get_content()
    text = content.decode() if isinstance(content, bytes) else str(content)
    unfolded = text.replace("\r\n ", "").replace("\r\n\t", "")
    lines = [line for line in unfolded.replace("\r\n", "\n").split("\n") if line]
    assert lines[0] == "BEGIN:VCALENDAR", lines
    assert lines[-1] == "END:VCALENDAR", lines
    assert "BEGIN:VEVENT" in lines, lines
    assert "END:VEVENT" in lines, lines
    properties: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        properties[name.split(";")[0]] = value
    return properties


def ics_time(value: str) -> datetime:
    assert value.endswith("Z"), f"expected a UTC time, got {value}"
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def section(text: str, heading: str) -> list[str]:
    """The bullet lines under a heading of the feedback email ('What stood out:' ...)."""
    lines = text.splitlines()
    assert heading in [line.strip() for line in lines], f"no '{heading}' in:\n{text}"
    start = [line.strip() for line in lines].index(heading) + 1
    bullets: list[str] = []
    for line in lines[start:]:
        if not line.strip().startswith("- "):
            break
        bullets.append(line.strip().removeprefix("- "))
    return bullets
