"""Each intended email is sent exactly once, even when the activity that sent it fails afterwards
and is retried, and even when the relay is down for a while."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.applications import ApplicationActivities
from activities.email import EmailActivities
from offhours.contracts import ApplicationState, EmailRequest, EmailResult
from offhours.models import EmailMessage
from offhours.settings import Settings
from tests.support.actors import unique_email
from tests.support.mail import Mailbox
from tests.support.records import application_for
from tests.support.stack import Stack, free_port, start_stack
from workers import build_worker


class FailsAfterSending(EmailActivities):
    """The first attempt of every send delivers the message and then crashes, as a worker that dies
    right after the relay accepted the message would."""

    attempts: list[tuple[str, int]] = []

    @activity.defn(name="send_email")
    async def send_email(self, request: EmailRequest) -> EmailResult:
        result = await super().send_email(request)
        info = activity.info()
        type(self).attempts.append((request.message_key, info.attempt))
        if info.attempt == 1:
            raise RuntimeError("worker lost after the relay accepted the message")
        return result


def activities_with(email: EmailActivities, engine: Engine) -> list[Callable[..., Any]]:
    db = ApplicationActivities(engine, email.settings)
    return [db.record_status, db.save_answer, db.save_scorecard, db.save_decision, email.send_email]


@pytest.fixture
async def crashing_stack(
    dev_server: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Stack]:
    async for stack in start_stack(dev_server, settings, engine, mailbox, with_worker=False):
        FailsAfterSending.attempts = []
        worker = build_worker(
            dev_server.client,
            settings,
            engine,
            activities=activities_with(FailsAfterSending(engine, settings), engine),
        )
        async with worker:
            yield stack


async def test_send_then_failed_attempt_then_retry_sends_once(crashing_stack: Stack) -> None:
    stack = crashing_stack
    job = await stack.create_job()
    address = unique_email()
    application = await stack.invite(job["id"], address)
    await stack.mailbox.wait_for(address, 1)
    # Wait until the retry has run (attempt 2 finds the message already sent), then a little more.
    for _ in range(200):
        if ("invite", 2) in FailsAfterSending.attempts:
            break
        await stack.mailbox.settle(0.05)
    assert ("invite", 1) in FailsAfterSending.attempts
    assert ("invite", 2) in FailsAfterSending.attempts
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(address)) == 1
    with Session(stack.engine) as session:
        row = session.exec(select(EmailMessage).where(EmailMessage.application_id == application["id"])).one()
        assert row.status == "sent"
        assert row.attempts == 1
        assert row.sent_at is not None


async def test_relay_down_then_up_delivers_once(
    dev_server: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> None:
    # Point the worker at a port where nothing listens: every attempt fails until it is fixed.
    dead = settings.model_copy(update={"SMTP_PORT": free_port()})
    async for stack in start_stack(dev_server, settings, engine, mailbox, with_worker=False):
        job = await stack.create_job()
        address = unique_email()
        application = await stack.invite(job["id"], address)
        email_activities = EmailActivities(engine, dead)
        async with build_worker(
            dev_server.client, settings, engine, activities=activities_with(email_activities, engine)
        ):
            for _ in range(200):
                with Session(engine) as session:
                    row = session.exec(
                        select(EmailMessage).where(EmailMessage.application_id == application["id"])
                    ).first()
                if row is not None and row.attempts >= 2:
                    break
                await stack.mailbox.settle(0.05)
            assert row is not None
            assert row.status == "pending"
            assert row.last_error
            assert stack.mailbox.to(address) == []
            email_activities.settings = settings  # the relay is back
            [invite] = await stack.mailbox.wait_for(address, 1, timeout=30)
        assert invite.message_id == f"<invite.{application['id']}@offhours.localhost>"
        await stack.mailbox.settle(0.5)
        assert len(stack.mailbox.to(address)) == 1


async def test_refused_recipient_does_not_stop_the_application(stack: Stack) -> None:
    job = await stack.create_job()
    address = unique_email()
    stack.mailbox.refuse.add(address)
    application = await stack.invite(job["id"], address)
    # The application still moves on to the interview stage; the failure is recorded, not retried forever.
    for _ in range(200):
        with Session(stack.engine) as session:
            row = session.exec(
                select(EmailMessage).where(EmailMessage.application_id == application["id"])
            ).first()
        if row is not None and row.status == "failed":
            break
        await stack.mailbox.settle(0.05)
    assert row is not None
    assert row.status == "failed"
    assert "550" in (row.last_error or "")
    for _ in range(100):
        state = await stack.workflow(application["id"]).query("state", result_type=ApplicationState)
        if state.stage == "interview":
            break
        await stack.mailbox.settle(0.05)
    assert state.stage == "interview"
    assert state.status == "invited"


async def test_a_worker_lost_after_the_relay_took_the_message_does_not_send_it_again(
    settings: Settings, engine: Engine, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lost between the relay's answer to DATA and the goodbye (QUIT): the message is already
    recorded as sent, so the retried attempt sends nothing."""
    email = EmailActivities(engine, settings)
    request = EmailRequest(application_for(engine, "Support engineer"), "invite", "invite")
    real_quit = aiosmtplib.SMTP.quit

    async def lost(self: aiosmtplib.SMTP, *args: Any, **kwargs: Any) -> Any:  # noqa: ARG001 (SMTP.quit's signature)
        raise RuntimeError("worker lost before saying goodbye to the relay")

    environment = ActivityEnvironment()
    monkeypatch.setattr(aiosmtplib.SMTP, "quit", lost)
    with pytest.raises(RuntimeError):
        await environment.run(email.send_email, request)
    monkeypatch.setattr(aiosmtplib.SMTP, "quit", real_quit)
    again = await environment.run(email.send_email, request)
    assert again.sent_now is False
    recipient = email.render(request).recipient
    await mailbox.wait_for(recipient, 1)
    await mailbox.settle(0.5)
    assert len(mailbox.to(recipient)) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_the_relay_login_is_used(settings: Settings, engine: Engine) -> None:
    """SMTP_USERNAME / SMTP_PASSWORD log in to a relay that requires it; a wrong password is a
    failure the activity reports, not a message sent."""
    received: list[str] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002 (aiosmtpd's hook)
            received.append(str(envelope.rcpt_tos))
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:  # noqa: ARG001 (aiosmtpd's hook)
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"relay-user", b"relay-pass")
        return AuthResult(success=ok)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        relay = settings.model_copy(
            update={
                "SMTP_PORT": controller.port,
                "SMTP_USERNAME": "relay-user",
                "SMTP_PASSWORD": "relay-pass",
            }
        )
        email = EmailActivities(engine, relay)
        request = EmailRequest(application_for(engine, "Support engineer"), "invite", "invite")
        result = await ActivityEnvironment().run(email.send_email, request)
        assert result.sent_now
        assert len(received) == 1
        wrong = EmailActivities(engine, relay.model_copy(update={"SMTP_PASSWORD": "not-it"}))
        other = EmailRequest(application_for(engine, "Support engineer"), "invite", "invite")
        with pytest.raises(Exception, match="relay"):
            await ActivityEnvironment().run(wrong.send_email, other)
        assert len(received) == 1
    finally:
        controller.stop()
