"""Browser tests: Debian's Chromium, headless, driven by Playwright, with a fake camera and microphone,
against the real product served over HTTP (uvicorn), a real worker on the Temporal dev server, and
the real SMTP catcher. Where Chromium is not installed they skip and say how to get it."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from offhours.settings import Settings
from pipelines.base import FaqEntry, Pipeline
from pipelines.registry import PIPELINES, validate
from pipelines.stages import DAY, Criterion, Decision, Interview, Invite, Question, Review
from tests.conftest import STAFF, Mailbox, free_port, terminate_open_workflows, unique_email
from workers import build_worker

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("OFFHOURS_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE_VERSION = "4.10.2"
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",  # a synthetic camera picture and a beeping microphone
    "--use-fake-ui-for-media-stream",  # camera and microphone permission granted without a prompt
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--autoplay-policy=no-user-gesture-required",
]


# ---------------------------------------------------------------------------------- pipelines

CLARITY = Criterion("clarity", "Clarity", ("Lost", "Vague", "Clear", "Crisp", "Compelling"))
VISIT = Pipeline(
    name="portal-visit",
    title="Portal visit",
    contact="ana",
    faq=(FaqEntry("How long does it take?", "About ten minutes."),),
    stages=(
        Invite(deadline=5 * DAY),
        Interview(
            questions=(
                Question(
                    "intro", "Introduce yourself in a few words.", "video", answer_time_limit=20, retakes=2
                ),
                Question("why", "Why does this role interest you?", "text"),
                Question("shift", "Which shift suits you best?", "choice", choices=("Mornings", "Evenings")),
            )
        ),
        Review(pool="default", reviewers=1, criteria=(CLARITY,)),
        Decision(),
    ),
)
PHONE = Pipeline(
    name="portal-phone",
    title="Portal on a phone",
    contact="ana",
    stages=(
        Invite(deadline=5 * DAY),
        Interview(
            questions=(
                Question("pitch", "In one sentence: why you?", "video", think_time=3, answer_time_limit=4),
                Question("notes", "Anything you want to add?", "text", required=False),
            )
        ),
        Review(pool="default", reviewers=1, criteria=(CLARITY,)),
        Decision(),
    ),
)


DOCUMENT = Pipeline(
    name="portal-document",
    title="Portal with a document",
    stages=(
        Invite(deadline=5 * DAY),
        Interview(questions=(Question("cv", "Upload your CV.", "file"),)),
        Review(pool="default", reviewers=1, criteria=(CLARITY,)),
        Decision(),
    ),
)


@pytest.fixture
def pipelines(monkeypatch: pytest.MonkeyPatch) -> None:
    for pipeline in (VISIT, PHONE, DOCUMENT):
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


@dataclass
class Live:
    """The product served on a real port, as a candidate's browser reaches it."""

    url: str
    settings: Settings
    engine: Engine
    mailbox: Mailbox
    http: httpx.AsyncClient
    env: WorkflowEnvironment

    async def invite(
        self, pipeline: str, title: str, name: str = "Ada Lovelace"
    ) -> tuple[dict[str, Any], str]:
        """Create a job, invite a candidate, and return the application and the link from their email."""
        job = await self.http.post("/api/v1/jobs", json={"title": title, "pipeline": pipeline}, headers=STAFF)
        assert job.status_code == 201, job.text
        address = unique_email()
        created = await self.http.post(
            "/api/v1/applications",
            json={
                "job_id": job.json()["id"],
                "candidate": {"name": name, "email": address, "timezone": "Europe/Lisbon"},
            },
            headers=STAFF,
        )
        assert created.status_code == 201, created.text
        [mail] = await self.mailbox.wait_for(address, 1)
        link = mail.link()
        assert link.startswith(self.url + "/c/")
        return created.json(), link


@pytest.fixture
async def live(
    dev_server: WorkflowEnvironment, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Live]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = settings.model_copy(update={"PUBLIC_URL": url})
    app = create_app(settings, temporal_client=dev_server.client, engine=engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:
            await asyncio.sleep(0.05)
    try:
        async with build_worker(dev_server.client, settings, engine), httpx.AsyncClient(base_url=url) as http:
            yield Live(url, settings, engine, mailbox, http, dev_server)
            await terminate_open_workflows(dev_server.client, engine)
    finally:
        server.should_exit = True
        await serving


class Shots:
    """Numbered screenshots of one test, kept under test-artifacts/screenshots/<test>/."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    async def take(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Iterator[Shots]:
    directory = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    yield Shots(directory)


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
