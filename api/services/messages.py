"""The thread between a candidate and their contact person, for the candidate's portal and API
and for staff: each message is emailed by a Notice workflow exactly once, then stored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from api import idempotency
from api.errors import Conflict, ServiceUnavailable, TooManyRequests
from api.schemas import MessagePublic
from offhours import ids
from offhours.contracts import EmailRequest
from offhours.models import Application, ContactMessage, new_id
from offhours.settings import Settings
from offhours.touch import touch
from pipelines.base import pipeline_from_snapshot
from pipelines.people import PEOPLE

log = logging.getLogger("offhours.api")


def thread_query(application_id: str) -> SelectOfScalar[ContactMessage]:
    """The application's messages, oldest first."""
    return (
        select(ContactMessage)
        .where(ContactMessage.application_id == application_id)
        .order_by(col(ContactMessage.created_at), col(ContactMessage.id))
    )


def messages_of(session: Session, application: Application) -> list[MessagePublic]:
    return present(application, session.exec(thread_query(application.id)).all())


def present(application: Application, rows: Sequence[ContactMessage]) -> list[MessagePublic]:
    """Messages as the candidate and staff read them: the contact named, the candidate as "You"."""
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    contact = PEOPLE.get(pipeline.contact or "")
    return [
        MessagePublic(
            id=m.id,
            from_candidate=m.author == "candidate",
            author="You" if m.author == "candidate" else (contact.name if contact else "The hiring team"),
            body=m.body,
            created_at=m.created_at,
        )
        for m in rows
    ]


async def notify(client: Client, settings: Settings, notice_id: str, emails: list[EmailRequest]) -> None:
    async with asyncio.timeout(10):
        await client.start_workflow("Notice", emails, id=notice_id, task_queue=settings.TASK_QUEUE)


async def _send_message(
    client: Client,
    session: Session,
    settings: Settings,
    message: ContactMessage,
    email: EmailRequest,
    quota: int | None = None,
) -> ContactMessage:
    """Start the message's Notice first, then store the message. The Notice's email waits for the row
    (retried for a day), so a message is never stored without being sent, nor sent twice: if Temporal
    does not take the notice, nothing is stored and the sender is asked to try again.

    With a `quota`, the message is stored only if its author has sent fewer than that many on the
    application: counted after the row is written and the application row locked, so that messages
    sent at once are counted one after the other (SQLite: the insert takes the database's write
    lock; PostgreSQL: FOR NO KEY UPDATE). One over the quota is rolled back and its Notice ended
    before it can find the row: nothing is stored, no email is sent."""
    notice = ids.notice_workflow(message.id)
    try:
        await notify(client, settings, notice, [email])
    except WorkflowAlreadyStartedError:
        pass  # a retry whose first call started the Notice, then was lost before storing the row
    except Exception as error:  # noqa: BLE001 (whatever keeps Temporal away is a 503 the caller may retry)
        raise ServiceUnavailable(f"the message could not be sent just now ({error}); try again") from None
    session.add(message)
    if quota is not None:
        session.flush()
        session.exec(
            select(Application.id)
            .where(Application.id == message.application_id)
            .with_for_update(key_share=True)
        ).one()
        if _messages_sent(session, message.application_id, message.author) > quota:
            session.rollback()
            try:
                await client.get_workflow_handle(notice).terminate(reason="over the message quota")
            except Exception as error:  # noqa: BLE001 (it finds no row, and gives up after a day)
                log.warning("notice %s over the quota not ended: %s", notice, error)
            raise too_many_messages(quota)
    application = session.get(Application, message.application_id)
    if application is not None:
        touch(application)  # a new message is a change of the application an integration syncs
    session.commit()
    return message


def _messages_sent(session: Session, application_id: str, author: str) -> int:
    return session.exec(
        select(func.count())
        .select_from(ContactMessage)
        .where(ContactMessage.application_id == application_id, ContactMessage.author == author)
    ).one()


def too_many_messages(quota: int) -> TooManyRequests:
    return TooManyRequests(
        f"you have sent {quota} messages about this application, the most it takes; your contact "
        "person has received them all and answers on this page and by email: wait for their answer",
        limit=quota,
    )


async def ask_contact(
    client: Client, session: Session, settings: Settings, application: Application, body: str
) -> ContactMessage:
    """The candidate's question to their contact: emailed by a Notice workflow, then stored."""
    contact = pipeline_from_snapshot(application.pipeline_snapshot).contact
    if contact is None or contact not in PEOPLE:
        raise Conflict("this process names no contact person; reply to one of our emails instead")
    message_id = idempotency.row_id("msg")
    if message_id is not None and (sent := session.get(ContactMessage, message_id)) is not None:
        return sent  # a retry (Idempotency-Key) of a question already sent
    quota = settings.MAX_CONTACT_MESSAGES_PER_APPLICATION
    if _messages_sent(session, application.id, "candidate") >= quota:
        raise too_many_messages(quota)  # before the Notice: no email
    session.commit()  # no transaction held through the Notice's start
    message = ContactMessage(
        id=message_id or new_id("msg"), application_id=application.id, author="candidate", body=body
    )
    email = EmailRequest(
        application.id,
        f"msg-{message.id}",
        "contact_question",
        to_staff=contact,
        extra={"message_id": message.id},
    )
    return await _send_message(client, session, settings, message, email, quota)


async def answer_candidate(
    client: Client, session: Session, settings: Settings, application: Application, author: str, body: str
) -> ContactMessage:
    """A staff member's answer: emailed to the candidate and shown on their page."""
    message_id = idempotency.row_id("msg")
    if message_id is not None and (sent := session.get(ContactMessage, message_id)) is not None:
        return sent  # a retry (Idempotency-Key) of an answer already sent
    message = ContactMessage(
        id=message_id or new_id("msg"), application_id=application.id, author=author, body=body
    )
    email = EmailRequest(
        application.id, f"msg-{message.id}", "contact_answer", extra={"message_id": message.id}
    )
    return await _send_message(client, session, settings, message, email)
