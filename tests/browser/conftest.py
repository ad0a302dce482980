"""Fixtures of the browser tests: Debian's Chromium, headless, driven by Playwright, with a fake camera
and microphone, against the real product served over HTTP (uvicorn), a real worker on the Temporal
dev server, and the real SMTP catcher. Where Chromium is not installed they skip and say how to get
it. What they are built from lives in tests/support/browser.py."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tarfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from offhours.settings import Settings
from pipelines.registry import PIPELINES, validate
from tests.support.browser import (
    AXE_VERSION,
    CHROMIUM,
    CHROMIUM_ARGS,
    DOCUMENT,
    PHONE,
    ROOT,
    SCREENSHOTS,
    VISIT,
    Live,
    Shots,
)
from tests.support.mail import Mailbox
from tests.support.stack import free_port, terminate_open_workflows
from tests.support.stages import STAGE_PIPELINES
from workers import build_worker


@pytest.fixture
def pipelines(monkeypatch: pytest.MonkeyPatch) -> None:
    for pipeline in (VISIT, PHONE, DOCUMENT):
        monkeypatch.setitem(PIPELINES, pipeline.name, validate(pipeline))


@pytest.fixture
def stage_pipelines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipelines of the later stages' pages (tests/support/stages.py)."""
    for pipeline in STAGE_PIPELINES:
        monkeypatch.setitem(PIPELINES, pipeline.name, validate(pipeline))


# ---------------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM}: `apt-get install -y chromium` (as .ci/run does) "
            "or set OFFHOURS_CHROMIUM to a Chromium binary"
        )
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@asynccontextmanager
async def serving(
    env: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Live]:
    """The product on a real port (uvicorn) with a worker, on the Temporal server of `env`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = settings.model_copy(update={"PUBLIC_URL": url})
    app = create_app(settings, temporal_client=env.client, engine=engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:
            await asyncio.sleep(0.05)
    try:
        async with build_worker(env.client, settings, engine), httpx.AsyncClient(base_url=url) as http:
            yield Live(url, settings, engine, mailbox, http, env, app)
            await terminate_open_workflows(env.client, engine)
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def live(
    dev_server: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Live]:
    async with serving(dev_server, settings, engine, mailbox) as product:
        yield product


@pytest.fixture
async def skipping_live(
    time_skipping: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Live]:
    """The same on the time-skipping server: time runs as usual until the test skips it
    (`live.env.sleep`), for journeys that wait for a booked interview to take place."""
    async with serving(time_skipping, settings, engine, mailbox) as product:
        yield product


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    directory = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return Shots(directory)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core, the accessibility rules engine, from the npm registry (cached under .venv)."""
    cache = ROOT / ".venv" / f"axe-core-{AXE_VERSION}"
    script = cache / "package" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: the accessibility audit needs axe-core from the npm registry")
        cache.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(cache)],
                check=True,
                capture_output=True,
                timeout=120,
            )
        except (subprocess.SubprocessError, OSError) as error:
            pytest.skip(f"axe-core could not be fetched from the npm registry: {error}")
        with tarfile.open(cache / f"axe-core-{AXE_VERSION}.tgz") as archive:
            member = archive.extractfile("package/axe.min.js")
            assert member is not None
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_bytes(member.read())
    return script.read_text()
