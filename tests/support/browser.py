"""What the browser tests share: Debian's Chromium and its flags, the pipelines they visit, the
product served on a real port (`Live`) and numbered screenshots (`Shots`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from playwright.async_api import Page
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from offhours.settings import Settings
from pipelines.base import FaqEntry, Pipeline
from pipelines.stages import DAY, Criterion, Decision, Interview, Invite, Question, Review
from tests.support.actors import STAFF, unique_email
from tests.support.mail import Mailbox

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


@dataclass
class Live:
    """The product served on a real port, as a candidate's browser reaches it."""

    url: str
    settings: Settings
    engine: Engine
    mailbox: Mailbox
    http: httpx.AsyncClient
    env: WorkflowEnvironment
    app: FastAPI | None = None  # the app served, in this process (its state, for a test to look into)

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
