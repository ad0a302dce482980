"""Development only: the messages caught by the local SMTP catcher, readable in the browser."""

from __future__ import annotations

import mailbox
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import SettingsDep
from api.errors import NotFound
from api.pages.render import render_page

router = APIRouter(prefix="/dev/mailbox", tags=["development"])


def _text_part(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""


def _summary(key: str, message: Message) -> dict[str, Any]:
    date = message.get("Date")
    return {
        "key": key,
        "message_id": message.get("Message-ID"),
        "from": message.get("From"),
        "to": message.get("To"),
        "subject": message.get("Subject"),
        "date": parsedate_to_datetime(date).isoformat() if date else None,
    }


def _messages(settings: SettingsDep) -> list[tuple[str, Message]]:
    if not (settings.MAILBOX_DIR / "cur").exists():
        return []
    box = mailbox.Maildir(settings.MAILBOX_DIR, create=False)
    items = [(key, box.get_message(key)) for key in box.iterkeys()]
    items.sort(key=lambda item: item[1].get_date(), reverse=True)
    return [(key, msg) for key, msg in items]


@router.get("", response_class=HTMLResponse, summary="Caught messages, newest first")
def mailbox_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    messages = [_summary(k, m) for k, m in _messages(settings)]
    return render_page(request, "pages/mailbox.html", {"messages": messages})


@router.get(".json", summary="Caught messages as JSON, with their plain-text bodies")
def mailbox_json(settings: SettingsDep) -> list[dict[str, Any]]:
    return [{**_summary(k, m), "text": _text_part(m)} for k, m in _messages(settings)]


@router.get("/{key}", response_class=HTMLResponse)
def mailbox_message(key: str, request: Request, settings: SettingsDep) -> HTMLResponse:
    for found_key, message in _messages(settings):
        if found_key == key:
            context = {"message": _summary(key, message), "text": _text_part(message)}
            return render_page(request, "pages/mailbox_message.html", context)
    raise NotFound(f"no caught message '{key}'")
