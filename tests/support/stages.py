"""Journeys to the portal's later stages (assessment, slot booking, onboarding) for the browser
tests: the steps before them go through the JSON API as any client would (the candidate's link
token, staff with the admin token, reviewers as directory people), then the test takes over in the
browser. Every wait is for a condition, with a deadline."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from temporalio.client import WorkflowHandle

from offhours.codec import with_codec
from offhours.contracts import ApplicationState
from pipelines.base import Pipeline
from pipelines.stages import (
    DAY,
    Assessment,
    Criterion,
    Decision,
    GradedQuestion,
    Interview,
    Invite,
    Module,
    Onboarding,
    Question,
    Review,
    Scheduling,
)
from tests.support.actors import STAFF, person_headers
from tests.support.browser import Live
from tests.support.mail import CaughtMail
from tests.support.samples import webm

ANCHORS = ("Lost", "Vague", "Clear", "Crisp", "Compelling")
QUICK_QUESTIONS = (
    GradedQuestion("capital", "Capital of Portugal?", "choice", "Lisbon", choices=("Lisbon", "Porto")),
    GradedQuestion("sum", "What is 6 times 7?", "numeric", "42"),
)
# An assessment straight after the invitation: its clock short enough for a test to see it run out.
QUICK = Pipeline(
    name="portal-quick-assessment",
    title="Quick assessment",
    contact="ana",
    stages=(
        Invite(deadline=5 * DAY),
        Assessment(questions=QUICK_QUESTIONS, time_limit=10, show_result=True),
        Review(pool="default", reviewers=1, criteria=(Criterion("clarity", "Clarity", ANCHORS),)),
        Decision(),
    ),
)
LONG = Pipeline(
    name="portal-long-assessment",
    title="Long assessment",
    contact="ana",
    stages=(
        Invite(deadline=5 * DAY),
        Assessment(questions=QUICK_QUESTIONS, time_limit=600),
        Review(pool="default", reviewers=1, criteria=(Criterion("clarity", "Clarity", ANCHORS),)),
        Decision(),
    ),
)
# A written question, then a live interview the candidate books.
BOOKING = Pipeline(
    name="portal-booking",
    title="Interview booking",
    contact="ana",
    stages=(
        Invite(deadline=5 * DAY),
        Interview(questions=(Question("why", "Why this role?"),)),
        Scheduling(title="Call with the team", duration_minutes=30, location="Video call, link by email"),
    ),
)
# A written question, one reviewer, a decision, and two onboarding modules.
JOINING = Pipeline(
    name="portal-joining",
    title="Joining",
    contact="ana",
    stages=(
        Invite(deadline=5 * DAY),
        Interview(questions=(Question("why", "Why this role?"),)),
        Review(pool="default", reviewers=1, criteria=(Criterion("clarity", "Clarity", ANCHORS),)),
        Decision(),
        Onboarding(
            modules=(
                Module("hello", "Say hello", due=2 * DAY, content="Say hello to the team.\n\nThat is all."),
                Module("tools", "Your tools", due=4 * DAY, content="Install the password manager."),
            )
        ),
    ),
)
STAGE_PIPELINES = (QUICK, LONG, BOOKING, JOINING)


@dataclass
class Applicant:
    application_id: str
    address: str
    link: str

    @property
    def token(self) -> str:
        return self.link.rsplit("/c/", 1)[1]

    @property
    def api(self) -> str:
        return f"/api/v1/candidate/{self.token}"

    @property
    def staff_api(self) -> str:
        return f"/api/v1/applications/{self.application_id}"


async def invite(live: Live, pipeline: str, title: str, name: str = "Ada Lovelace") -> Applicant:
    """A job on `pipeline`, a candidate invited to it, and the link from their invitation email."""
    application, link = await live.invite(pipeline, title, name)
    return Applicant(application["id"], application["candidate"]["email"], link)


async def ok(response: Awaitable[httpx.Response]) -> dict[str, Any]:
    answered = await response
    assert answered.status_code < 300, f"{answered.request.url} -> {answered.status_code}: {answered.text}"
    return dict(answered.json()) if answered.content else {}


async def state(live: Live, applicant: Applicant) -> ApplicationState:
    client = with_codec(live.env.client, live.settings)  # payloads are sealed, as in production
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(f"application-{applicant.application_id}")
    result: ApplicationState = await handle.query("state", result_type=ApplicationState)
    return result


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    """Wait for `check` to hold; fail saying `what` did not happen."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {timeout}s") from None


async def at_stage(live: Live, applicant: Applicant, stage: str, status: str | None = None) -> None:
    async def reached() -> bool:
        s = await state(live, applicant)
        return s.stage == stage and (status is None or s.status == status)

    await until(reached, f"the application at stage {stage} ({status or 'any status'})")


async def reload_until(page: Page, selector: str, timeout: float = 30) -> None:
    """Reload the page until `selector` shows: what the workflow does next, shown when it is done."""

    async def shown() -> bool:
        # A form just sent may still be navigating (its POST, then the redirect): let it land
        # first, and try again if a reload still meets it under way.
        await page.wait_for_load_state()
        try:
            await page.reload()
        except PlaywrightError as error:
            if "Not attached" not in error.message and "interrupted" not in error.message:
                raise
            return False
        return await page.locator(selector).count() > 0

    await until(shown, f"{selector} on {page.url}", timeout)


async def interview_answered(live: Live, applicant: Applicant, pipeline: Pipeline) -> None:
    """Every interview question answered through the candidate API (consent first when recorded),
    then submitted."""
    questions = [q for s in pipeline.stages if isinstance(s, Interview) for q in s.questions]
    if any(q.type in ("video", "audio") for q in questions):
        version = (await ok(live.http.get(applicant.api)))["consent_version"]
        await ok(live.http.post(f"{applicant.api}/consent", json={"version": version}))
    for q in questions:
        if q.timed:
            await ok(live.http.post(f"{applicant.api}/questions/{q.id}/open"))
        if q.type in ("video", "audio"):
            files = {"file": ("answer.webm", webm(1.0, q.type == "video"))}
            await ok(live.http.post(f"{applicant.api}/answers", data={"question_id": q.id}, files=files))
        else:
            text = q.choices[0] if q.choices else "Because I like helping people."
            await ok(live.http.post(f"{applicant.api}/answers", json={"question_id": q.id, "text": text}))
    await ok(live.http.post(f"{applicant.api}/submit"))


async def to_onboarding(live: Live, applicant: Applicant, pipeline: Pipeline) -> None:
    """Interview, every assigned reviewer's scorecard (as that directory person), an approval, the
    held feedback released: the application reaches onboarding."""
    await interview_answered(live, applicant, pipeline)
    review = next(s for s in pipeline.stages if isinstance(s, Review))

    async def assigned() -> bool:
        return len((await state(live, applicant)).reviewers) == review.reviewers

    await until(assigned, "reviewers assigned")
    for reviewer in (await state(live, applicant)).reviewers:
        card = {
            "reviewer_id": reviewer,
            "overall_recommendation": "yes",
            "ratings": {c.id: 4 for c in review.criteria},
        }
        headers = person_headers(live.engine, reviewer)
        await ok(live.http.post(f"{applicant.staff_api}/scorecards", json=card, headers=headers))
    await until(
        lambda: _status_is(live, applicant, "awaiting_decision"), "the application awaiting its decision"
    )
    await ok(live.http.post(f"{applicant.staff_api}/decision", json={"decision": "approve"}, headers=STAFF))
    if any(s.kind == "feedback" for s in pipeline.stages):
        await at_stage(live, applicant, "feedback")
        await ok(live.http.post(f"{applicant.staff_api}/feedback/release", json={}, headers=STAFF))
    await at_stage(live, applicant, "onboarding")


async def _status_is(live: Live, applicant: Applicant, status: str) -> bool:
    return (await state(live, applicant)).status == status


def mails_with_key(live: Live, applicant: Applicant, key: str) -> list[CaughtMail]:
    """The candidate's messages of one kind, by the message key their Message-ID starts with."""
    return [m for m in live.mailbox.to(applicant.address) if m.message_id.strip().startswith(f"<{key}.")]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:2000]
    return found[1]
