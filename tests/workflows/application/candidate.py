"""Helpers of the candidate-side stage tests (invite, interview, assessment): their pipelines, the
candidate's requests, and the emails the workflow scheduled."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType

from pipelines.people import PEOPLE
from pipelines.registry import Pipeline
from pipelines.stages import (
    DAY,
    MINUTE,
    Assessment,
    Criterion,
    Decision,
    Extensions,
    GradedQuestion,
    Interview,
    Invite,
    Question,
    Reminders,
    Review,
)
from tests.support.actors import STAFF, unique_email
from tests.support.history import payload_json
from tests.support.mail import token_from
from tests.support.samples import upload_recording
from tests.support.stack import Stack

TIMEZONE = "Europe/Paris"  # the candidate's timezone set by Stack.invite
CANDIDATE_NAME = "Ada Lovelace"  # the candidate's name set by Stack.invite
TOLERANCE = timedelta(seconds=5)
HOURS = timedelta(hours=1)
A_DAY = timedelta(days=1)

ANA = PEOPLE["ana"].email  # the contact person of the extension pipeline
SAM = PEOPLE["sam"].email  # the only member of the default reviewer pool
SUPPORT_POOL = [PEOPLE[p].email for p in ("ana", "lee", "jo")]

RUBRIC = (Criterion("clarity", "Clarity", ("Lost", "Vague", "Clear", "Crisp", "Compelling")),)
INTRO = Question("intro", "Introduce yourself in a few lines.")

# ------------------------------------------------------------------------------------ pipelines

EXTENSIONS = Pipeline(
    name="stage-test-extensions",
    title="Extension rules under test",
    contact="ana",
    stages=(
        Invite(
            deadline=7 * DAY,
            reminders=Reminders(before_deadline=(1 * DAY,)),
            extensions=Extensions(auto_grant=2 * DAY, max_total=5 * DAY),
        ),
        Interview(questions=(INTRO,)),
        Review(pool="default", criteria=RUBRIC),
        Decision(),
    ),
)
REMINDER_KEY = "reminder-86400"

GRADED = (
    GradedQuestion(
        "refund",
        "The refund window is 30 days; the order came 29 days ago. Refund?",
        "choice",
        "Yes",
        ("Yes", "No"),
    ),
    GradedQuestion(
        "per_hour", "You close 42 tickets in 6 hours. Tickets per hour?", "numeric", "7", tolerance=0.5
    ),
    GradedQuestion("team", "Which team handles payment disputes?", "exact", "Billing Team"),
    GradedQuestion("first_reply", "Target first reply time for chat, in minutes?", "numeric", "2"),
)
GRADED_IDS = [q.id for q in GRADED]
# Right answers written the way people type them: a decimal comma, stray case and spaces.
THREE_RIGHT = {"refund": "Yes", "per_hour": "7,2", "team": "  billing   TEAM ", "first_reply": "5"}
TWO_RIGHT = {"refund": "No", "per_hour": "6.9", "team": "Billing team", "first_reply": "3"}


def assessment_pipeline(on_fail: str) -> Pipeline:
    assert on_fail in ("reject", "inform")
    return Pipeline(
        name=f"stage-test-assessment-{on_fail}",
        title=f"Assessment that {on_fail}s on a fail",
        stages=(
            Invite(deadline=7 * DAY),
            Interview(questions=(INTRO,)),
            Assessment(
                questions=GRADED,
                pass_mark=0.75,
                time_limit=20 * MINUTE,
                on_fail="reject" if on_fail == "reject" else "inform",
            ),
            Review(pool="default", criteria=RUBRIC),
            Decision(),
        ),
    )


TAKES = Pipeline(
    name="stage-test-takes",
    title="Recorded answers under test",
    stages=(
        Invite(deadline=7 * DAY),
        Interview(
            questions=(
                Question("pitch", "Pitch us the product in one minute.", "video", think_time=30),
                Question("voice", "Read this paragraph aloud.", "audio", retakes=2),
            )
        ),
        Review(pool="default", criteria=RUBRIC),
        Decision(),
    ),
)


# ------------------------------------------------------------------------------------ helpers


@dataclass
class Invited:
    application_id: str
    address: str
    token: str
    title: str


async def invite(stack: Stack, pipeline: str, title: str) -> Invited:
    job = await stack.create_job(title, pipeline=pipeline)
    address = unique_email()
    application = await stack.invite(job["id"], address, name=CANDIDATE_NAME)
    [mail] = await stack.mailbox.wait_for(address, 1)
    assert mail.subject == f"Your interview for {title}: answer when it suits you"
    return Invited(application["id"], address, token_from(mail.link()), title)


async def candidate_post(stack: Stack, invited: Invited, path: str, body: Any = None) -> httpx.Response:
    url = f"/api/v1/candidate/{invited.token}/{path}"
    return await stack.http.post(url, json=body) if body is not None else await stack.http.post(url)


async def ask_for_time(
    stack: Stack, invited: Invited, hours: int, reason: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"hours": hours}
    if reason is not None:
        body["reason"] = reason
    return await candidate_post(stack, invited, "extension", body)


async def decide_extension(stack: Stack, invited: Invited, grant: bool) -> httpx.Response:
    return await stack.http.post(
        f"/api/v1/applications/{invited.application_id}/extension", json={"grant": grant}, headers=STAFF
    )


async def submit_interview(stack: Stack, invited: Invited) -> None:
    answer = await candidate_post(
        stack, invited, "answers", {"question_id": "intro", "text": "Hello, I am Ada."}
    )
    assert answer.status_code == 200, answer.text
    submit = await candidate_post(stack, invited, "submit")
    assert submit.status_code == 200, submit.text


async def answer_assessment(stack: Stack, invited: Invited, answers: dict[str, str]) -> None:
    for question_id, value in answers.items():
        response = await candidate_post(
            stack, invited, "assessment/answers", {"question_id": question_id, "value": value}
        )
        assert response.status_code == 200, response.text


async def upload(
    stack: Stack, invited: Invited, question_id: str, content: bytes, kind: str
) -> httpx.Response:
    return await upload_recording(stack.http, invited.token, question_id, content, f"{kind}/webm")


async def wait_assessed(stack: Stack, application_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """The application once its assessment result is stored."""
    async with asyncio.timeout(timeout):
        while True:
            application = await stack.application(application_id)
            if application["assessments"]:
                return application
            await asyncio.sleep(0.05)


def instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def detail_of(response: httpx.Response) -> str:
    return str(response.json()["detail"])


async def scheduled_emails(stack: Stack, application_id: str) -> tuple[datetime, list[tuple[datetime, str]]]:
    """The workflow's start time and each send_email activity it scheduled: (when, message key)."""
    history = await stack.workflow(application_id).fetch_history()
    started: datetime | None = None
    emails: list[tuple[datetime, str]] = []
    for event in history.events:
        at = event.event_time.ToDatetime(tzinfo=UTC)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            started = at
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == "send_email":
                emails.append((at, payload_json(stack, attributes.input.payloads[0])["message_key"]))
    assert started is not None
    return started, emails


def granted_subject(title: str) -> str:
    return f"More time for your {title} interview"


def refused_subject(title: str) -> str:
    return f"About your request for more time ({title})"


def request_subject(invited: Invited) -> str:
    return f"Extension request on application {invited.application_id} ({invited.title})"
