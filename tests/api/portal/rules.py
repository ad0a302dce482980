"""Helpers of the portal rule tests: the pipeline whose questions carry every rule (consent, timed
prompts, takes, length and size limits), a candidate invited to it, their requests and what the
server stored."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import Session, select

from offhours.models import Answer, Application
from offhours.settings import Settings
from pipelines.people import PEOPLE
from pipelines.registry import Pipeline
from pipelines.stages import Criterion, Decision, Interview, Invite, Question, Review
from tests.support.actors import unique_email
from tests.support.mail import token_from
from tests.support.stack import Stack

# --------------------------------------------------------------------------------------- pipeline


PROMPTS = {
    "intro": "Introduce yourself on camera",
    "one_go": "Walk us through the hardest support ticket you solved",
    "two_takes": "Explain a refund policy to an upset customer",
    "short": "Say hello in one second",
    "essay": "Describe the working week you would design for yourself",
    "unopened": "What would you change first in a product you use daily",
    "cv": "Upload your CV",
}
RULES = Pipeline(
    name="portal-rules",
    title="Rules the server enforces",
    stages=(
        Invite(),
        Interview(
            questions=(
                Question("intro", PROMPTS["intro"], "video"),  # untimed, any number of takes
                Question("one_go", PROMPTS["one_go"], "video", think_time=30, answer_time_limit=60),
                Question("two_takes", PROMPTS["two_takes"], "video", answer_time_limit=60, retakes=1),
                Question("short", PROMPTS["short"], "video", answer_time_limit=1),
                Question("essay", PROMPTS["essay"], "text", answer_time_limit=120),
                Question("unopened", PROMPTS["unopened"], "text", answer_time_limit=120),
                Question("cv", PROMPTS["cv"], "file", required=False),
            )
        ),
        Review(criteria=(Criterion("clarity", "Clarity", ("1", "2", "3", "4", "5")),)),
        Decision(),
    ),
)
CONTACT = PEOPLE["ana"]  # the support-agent pipeline's contact person


# --------------------------------------------------------------------------------------- helpers


@dataclass
class Invited:
    application_id: str
    address: str
    token: str

    @property
    def api(self) -> str:
        return f"/api/v1/candidate/{self.token}"

    @property
    def portal(self) -> str:
        return f"/c/{self.token}"


async def invite(stack: Stack, pipeline: str) -> Invited:
    """Invite a new candidate and take their link from the invitation email, as they would."""
    job = await stack.create_job("Support engineer", pipeline=pipeline)
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [mail] = await stack.mailbox.wait_for(address, 1)
    return Invited(application["id"], address, token_from(mail.link()))


async def view(stack: Stack, who: Invited) -> dict[str, Any]:
    response = await stack.http.get(who.api)
    assert response.status_code == 200, response.text
    return dict(response.json())


def question(candidate_view: dict[str, Any], question_id: str) -> dict[str, Any]:
    return dict(next(q for q in candidate_view["questions"] if q["id"] == question_id))


async def consent(stack: Stack, who: Invited) -> None:
    version = (await view(stack, who))["consent_version"]
    response = await stack.http.post(f"{who.api}/consent", json={"version": version})
    assert response.status_code == 200, response.text


async def open_question(stack: Stack, who: Invited, question_id: str) -> httpx.Response:
    return await stack.http.post(f"{who.api}/questions/{question_id}/open")


async def upload(
    http: httpx.AsyncClient,
    who: Invited,
    question_id: str,
    content: bytes,
    name: str = "answer.webm",
    content_type: str = "video/webm",
) -> httpx.Response:
    return await http.post(
        f"{who.api}/answers", data={"question_id": question_id}, files={"file": (name, content, content_type)}
    )


async def write(stack: Stack, who: Invited, question_id: str, text: str) -> httpx.Response:
    return await stack.http.post(f"{who.api}/answers", json={"question_id": question_id, "text": text})


def stored_answer(stack: Stack, who: Invited, question_id: str) -> Answer | None:
    with Session(stack.engine) as session:
        return session.exec(
            select(Answer).where(
                Answer.application_id == who.application_id, Answer.question_id == question_id
            )
        ).first()


def answered_questions(stack: Stack, who: Invited) -> set[str]:
    with Session(stack.engine) as session:
        rows = session.exec(select(Answer.question_id).where(Answer.application_id == who.application_id))
        return set(rows.all())


def application_row(stack: Stack, who: Invited) -> Application:
    with Session(stack.engine) as session:
        row = session.get(Application, who.application_id)
        assert row is not None
        return row


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def stored_files(settings: Settings) -> set[str]:
    """The sha256 of every file in the content-addressed store (objects/<2 hex>/<62 hex>)."""
    objects = settings.DATA_DIR / "objects"
    if not objects.exists():
        return set()
    return {p.parent.name + p.name for p in objects.rglob("*") if p.is_file()}


def half_received_files(settings: Settings) -> list[str]:
    incoming = settings.DATA_DIR / "incoming"
    return [p.name for p in incoming.iterdir()] if incoming.exists() else []


@asynccontextmanager
async def browser(app: FastAPI, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookie jar, connecting from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://offhours.test") as client:
        yield client


async def opening_recorded(stack: Stack, who: Invited, timeout: float = 10.0) -> None:
    """Wait until the first successful view of the link is recorded (a fire-and-forget signal to the
    workflow): the stack's teardown must not find that signal's work still in flight."""
    async with asyncio.timeout(timeout):
        while application_row(stack, who).opened_at is None:
            await asyncio.sleep(0.05)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


# ------------------------------------------------------------------------------------- 9. CSRF


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
VERSION_FIELD = re.compile(r'name="version" value="([0-9a-f]{64})"')


async def form_page(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    assert client.cookies.get("offhours_csrf"), "the page must set the CSRF cookie"
    match = CSRF_FIELD.search(page.text)
    assert match, "the form carries no csrf_token"
    return page.text


# ---------------------------------------------------------------------------------- 13. pages


PAGES = (
    "",
    "/consent",
    "/practice",
    "/questions",
    "/questions/essay",
    "/questions/cv",
    "/faq",
    "/messages",
    "/extension",
    "/feedback",
    "/privacy",
)


def assert_portal_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
