"""Reading a workflow's history in tests: what it scheduled, and when on the workflow's clock."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType

from offhours.codec import codec_for
from tests.support.stack import Stack


def payload_json(stack: Stack, payload: Payload) -> Any:
    """A payload of a raw history (as Temporal stores it: encrypted), decrypted and parsed."""
    return json.loads(codec_for(stack.settings).decrypt(payload).data)


@dataclass
class ScheduledEmail:
    at: datetime  # workflow time at which the send_email activity was scheduled
    key: str
    template: str


async def scheduled_emails(stack: Stack, application_id: str) -> list[ScheduledEmail]:
    """Every send_email activity the application's workflow scheduled, with its workflow time."""
    history = await stack.workflow(application_id).fetch_history()
    emails: list[ScheduledEmail] = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        attributes = event.activity_task_scheduled_event_attributes
        if attributes.activity_type.name != "send_email":
            continue
        request = payload_json(stack, attributes.input.payloads[0])
        at = event.event_time.ToDatetime(tzinfo=UTC)
        emails.append(ScheduledEmail(at, request["message_key"], request["template"]))
    return emails
