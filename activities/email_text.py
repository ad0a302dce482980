"""The words of an email: templates and their filters, header-safe subjects, dates in the reader's
time zone, and the text escaping and line folding of iCalendar (RFC 5545)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2.utils import urlize
from markupsafe import Markup

from offhours import TEMPLATES_DIR


def paragraphs(text: str) -> Markup:
    """Plain text as HTML: escaped, links made clickable, blank lines between paragraphs."""
    if isinstance(text, Markup):
        # A plain-text template rendered for HTML (autoescaped): back to its text, escaped once below.
        text = text.unescape()
    blocks = [b.strip("\n") for b in str(text).split("\n\n") if b.strip()]
    # urlize escapes the text itself (escaping it first would show "&amp;" for "&").
    html = "".join(f"<p>{urlize(b).replace(chr(10), '<br>')}</p>" for b in blocks)
    return Markup(html)  # urlize escaped every part


def template_environment(*, html: bool = True) -> Environment:
    """Email templates. For the HTML part everything is escaped, the .txt templates an HTML one
    includes as well (the subject in <title>, the body under `paragraphs`): whatever they hold lands
    in HTML. For the text part and the headers (html=False) nothing is escaped."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["paragraphs"] = paragraphs
    return environment


def header_text(text: str) -> str:
    """One header line: every run of whitespace, CR and LF included, becomes one space (a value can
    never start a header of its own); the text itself is left as it is, unescaped."""
    return " ".join(str(text).split())


# Line breaks as str.splitlines knows them (a calendar client may honour any of them), and the other
# control characters RFC 5545 does not allow in a value.
_ICS_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_ICS_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def ics_text(value: str) -> str:
    """An iCalendar TEXT value (RFC 5545, 3.3.11): backslash, ';' and ',' escaped, each line break
    (CRLF, a bare CR or LF) written as \\n, so that no value can start a property of its own."""
    value = _ICS_CONTROLS.sub("", _ICS_BREAKS.sub("\n", str(value)))
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def ics_line_safe(value: str) -> str:
    """A value that is not TEXT (an address, an id): no line break or control character at all."""
    return _ICS_CONTROLS.sub("", _ICS_BREAKS.sub("", str(value)))


def ics_fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545, 3.1): CRLF and a space, never inside a UTF-8
    character."""
    parts: list[str] = []
    current, size = "", 0
    for char in line:
        octets = len(char.encode())
        if size + octets > (75 if not parts else 74):  # a continuation line starts with its space
            parts.append(current)
            current, size = "", 0
        current += char
        size += octets
    parts.append(current)
    return "\r\n ".join(parts)


def mail_domain(mail_from: str) -> str:
    """The domain of the sender's address: Message-IDs and calendar UIDs are made unique under it."""
    return parseaddr(mail_from)[1].rpartition("@")[2] or "offhours.localhost"


def calendar_event(
    *,
    uid: str,
    start: datetime,
    duration_minutes: int,
    title: str,
    job_title: str,
    location: str,
    mail_from: str,
    attendee: str,
    stamp: datetime,
) -> str:
    """An iCalendar event (RFC 5545) for a booked slot: the confirmation email's attachment and the
    portal's download are this one function's output, so they cannot differ."""
    start = start.astimezone(UTC)
    end = start + timedelta(minutes=duration_minutes)

    def utc(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    organizer = ics_line_safe(parseaddr(mail_from)[1])
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//offhours//scheduling//EN",
        "METHOD:REQUEST",
        "BEGIN:VEVENT",
        f"UID:{ics_line_safe(uid)}",
        f"DTSTAMP:{utc(stamp)}",
        f"DTSTART:{utc(start)}",
        f"DTEND:{utc(end)}",
        f"SUMMARY:{ics_text(title)} - {ics_text(job_title)}",
        f"LOCATION:{ics_text(location)}",
        f"ORGANIZER:mailto:{organizer}",
        f"ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:{ics_line_safe(attendee)}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(ics_fold(line) for line in lines) + "\r\n"


def slot_event_uid(application_id: str, message_key: str, mail_from: str) -> str:
    """The booked slot's event UID: the same in the confirmation email and the portal's download."""
    return f"{application_id}.{message_key}@{mail_domain(mail_from)}"


def format_deadline(deadline: datetime | None, timezone: str) -> str:
    if deadline is None:
        return ""
    local = deadline.astimezone(ZoneInfo(timezone))
    return local.strftime("%A %d %B %Y, %H:%M ") + f"({timezone})"
