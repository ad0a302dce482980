"""The one stack: the product on a Temporal server (dev server or time-skipping) with a worker, the
ASGI app, a migrated SQLite database and the test SMTP server. The conftest fixtures start it for
each test (`start_stack`); the synchronous driver runs the same `open_stack` on its own loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from offhours.codec import with_codec
from offhours.contracts import ApplicationState
from offhours.settings import Settings, get_settings, load_settings
from tests.support.actors import ADMIN_TOKEN, MASTER_KEYS, PAYLOAD_KEYS, STAFF, person_headers, unique_email
from tests.support.mail import Mailbox
from tests.support.quiet import until_quiet, workflow_ids
from workers import build_worker, dispatch_webhooks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(directory: Path, smtp_port: int) -> Settings:
    """Settings of a test's product: its database and files under `directory`, its own task queue."""
    return load_settings(
        ENVIRONMENT="test",
        DATABASE_URL=f"sqlite:///{directory / 'offhours.db'}",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_port,
        SMTP_TIMEOUT_SECONDS=5,
        PUBLIC_URL="http://offhours.test",
        SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        ADMIN_TOKEN=ADMIN_TOKEN,
        PAYLOAD_KEYS=PAYLOAD_KEYS,
        MASTER_KEYS=MASTER_KEYS,
        DATA_DIR=directory / "data",
        MAILBOX_DIR=directory / "mailbox",
        TASK_QUEUE=f"test-{uuid.uuid4().hex[:12]}",
    )


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
        """Headers for an ops account linked to a person of the staff directory (created once): only
        such accounts score and cast approvers' votes (ADMIN_TOKEN does neither)."""
        if person_id not in self._people:
            self._people[person_id] = person_headers(self.engine, person_id)
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


@asynccontextmanager
async def open_stack(
    env: WorkflowEnvironment,
    settings: Settings,
    engine: Engine,
    mailbox: Mailbox,
    with_worker: bool = True,
    client: Client | None = None,
) -> AsyncIterator[Stack]:
    """The product on `env`: the API (over ASGI) and, unless `with_worker` is false, a worker."""
    client = client or with_codec(env.client, settings)  # what the product's own processes use
    app = create_app(settings, temporal_client=client, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://offhours.test") as http:
        if not with_worker:
            yield Stack(env, client, settings, engine, mailbox, http, None)
            return
        worker = build_worker(client, settings, engine)
        stop = asyncio.Event()
        dispatching = asyncio.create_task(dispatch_webhooks(client, settings, stop, engine))
        try:
            async with worker:
                yield Stack(env, client, settings, engine, mailbox, http, worker)
        finally:
            stop.set()
            await dispatching


async def start_stack(
    env: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox, with_worker: bool = True
) -> AsyncIterator[Stack]:
    """The stack of one test (`async for stack in start_stack(...)`): its workflows end with it."""
    client = with_codec(env.client, settings)
    try:
        async with open_stack(env, settings, engine, mailbox, with_worker, client) as stack:
            yield stack
    finally:
        await terminate_open_workflows(client, engine)


async def terminate_open_workflows(client: Client, engine: Engine) -> None:
    """Servers are shared by the session: a workflow left running with a timer due would hold up
    time skipping for every later test, so each test ends its own."""
    ids = workflow_ids(engine)
    # Let work in flight (an activity, a workflow task, in an application or in one of its child
    # workflows) finish first: ended mid-flight, a workflow can leave the time-skipping server
    # locked for the tests that follow.
    with contextlib.suppress(TimeoutError):
        await until_quiet(client, ids, timeout=10.0, checks=1)
    for workflow_id in ids:
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


async def state(stack: Stack, application_id: str) -> ApplicationState:
    """The application's state as its workflow answers the `state` query."""
    result: ApplicationState = await stack.workflow(application_id).query(
        "state", result_type=ApplicationState
    )
    return result


async def wait_open_reviewers(stack: Stack, application_id: str, reviewers: list[str]) -> None:
    """Until the workflow holds exactly these open review tasks (a reassignment has settled)."""
    for _ in range(400):
        if (await state(stack, application_id)).reviewers == reviewers:
            return
        await stack.mailbox.settle(0.05)
    raise AssertionError(f"open reviewers never became {reviewers}: {await state(stack, application_id)}")


def app_with(stack: Stack, **overrides: Any) -> FastAPI:
    """The same product (same Temporal, worker and database) served by an app with other settings."""
    settings = stack.settings.model_copy(update=overrides) if overrides else stack.settings
    return create_app(settings, temporal_client=stack.client, engine=stack.engine)


def client_of(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client of `app` with its own cookie jar, connecting from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 50123))
    return httpx.AsyncClient(transport=transport, base_url="http://offhours.test")


async def is_running(stack: Stack, application_id: str) -> bool:
    description = await stack.workflow(application_id).describe()
    return bool(description.status == WorkflowExecutionStatus.RUNNING)


def webhook_settings(directory: Path, smtp_port: int, request: pytest.FixtureRequest) -> Settings:
    """A test's settings allowing webhooks to a receiver on loopback over plain http, except in
    tests marked `public_only` (configured as in production)."""
    allow = request.node.get_closest_marker("public_only") is None
    return settings_for(directory, smtp_port).model_copy(update={"WEBHOOK_ALLOW_PRIVATE": allow})
