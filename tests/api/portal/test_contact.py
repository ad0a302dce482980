"""The candidate's contact thread and deletion request reach people by email."""

from __future__ import annotations

from sqlmodel import Session, select

from offhours.models import ContactMessage, DeletionRequest
from tests.api.portal.rules import CONTACT, invite, view
from tests.support.actors import STAFF
from tests.support.mail import mail_with_key, message_key
from tests.support.stack import Stack

# ------------------------------------------------------------------------------ 11. contact thread


async def test_the_contact_thread_goes_both_ways_by_email(stack: Stack) -> None:
    who = await invite(stack, "support-agent")
    asked_text = "Can I answer the video question from my phone?"
    answer_text = "Yes: any recent phone browser records fine."

    asked = await stack.http.post(f"{who.api}/messages", json={"body": asked_text})
    assert asked.status_code == 201, asked.text
    assert asked.json()["from_candidate"] is True
    [to_contact] = await stack.mailbox.wait_for(CONTACT.email, 1)
    assert asked_text in to_contact.text

    answered = await stack.http.post(
        f"/api/v1/applications/{who.application_id}/messages", json={"body": answer_text}, headers=STAFF
    )
    assert answered.status_code == 201, answered.text
    reply = await mail_with_key(stack, who.address, "msg-")
    assert answer_text in reply.text
    assert CONTACT.name in reply.subject

    thread = await stack.http.get(f"{who.api}/messages")
    assert thread.status_code == 200, thread.text
    assert [(m["from_candidate"], m["author"], m["body"]) for m in thread.json()] == [
        (True, "You", asked_text),
        (False, CONTACT.name, answer_text),
    ]


async def test_the_contact_thread_refuses_what_it_cannot_deliver(stack: Stack) -> None:
    no_contact = await invite(stack, "standard")
    refused = await stack.http.post(f"{no_contact.api}/messages", json={"body": "Who do I ask?"})
    assert refused.status_code == 409, refused.text
    assert "no contact person" in refused.json()["detail"]

    who = await invite(stack, "support-agent")
    for empty in ("", "   "):
        blank = await stack.http.post(f"{who.api}/messages", json={"body": empty})
        assert blank.status_code == 422, blank.text
        assert [e["field"] for e in blank.json()["errors"]] == ["body"]

    impostor = await stack.http.post(
        f"/api/v1/applications/{who.application_id}/messages",
        json={"body": "Please send your bank details."},
        headers={"Authorization": "Bearer not-the-staff-token"},
    )
    assert impostor.status_code == 401, impostor.text

    with Session(stack.engine) as session:
        assert session.exec(select(ContactMessage)).all() == []
    await stack.mailbox.settle()
    assert stack.mailbox.to(CONTACT.email) == []
    assert [message_key(m) for m in stack.mailbox.to(who.address)] == ["invite"]


# ---------------------------------------------------------------------------- 12. deletion request


async def test_a_deletion_request_is_recorded_confirmed_once_and_ends_the_application(stack: Stack) -> None:
    who = await invite(stack, "standard")
    first = await stack.http.post(f"{who.api}/deletion-request", json={"reason": "I took another job."})
    assert first.status_code == 202, first.text
    confirmation = await mail_with_key(stack, who.address, "deletion-requested")
    assert "delete" in confirmation.text
    await stack.wait_status(who.application_id, "withdrawn")

    again = await stack.http.post(f"{who.api}/deletion-request", json={})
    assert again.status_code == 202, again.text
    assert again.json()["requested_at"] == first.json()["requested_at"]
    await stack.mailbox.settle(1.5)
    confirmations = [m for m in stack.mailbox.to(who.address) if message_key(m) == "deletion-requested"]
    assert len(confirmations) == 1

    with Session(stack.engine) as session:
        rows = session.exec(
            select(DeletionRequest).where(DeletionRequest.application_id == who.application_id)
        ).all()
    assert len(rows) == 1
    assert rows[0].reason == "I took another job."
    assert (await view(stack, who))["deletion_requested_at"] is not None
