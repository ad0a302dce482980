"""The candidate-side stages on the time-skipping server: extension requests (granted at once, left to
the recruiter, refused), the timed auto-graded assessment (pass, fail and reject, fail and inform, the
time limit, refusals) and the take limits of recorded answers; plus the pure grading functions.

Days pass in milliseconds with `stack.env.sleep`. `stack.workflow(id).result()` does not skip time, so
it is awaited only once the workflow has closed. Emails are checked as messages received over SMTP
(what) and, where timing matters, as activities scheduled in the workflow history (when)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from activities.email_text import format_deadline
from offhours.contracts import ApplicationState
from offhours.models import Application
from pipelines.people import PEOPLE
from pipelines.registry import PIPELINES, Pipeline, validate
from pipelines.scoring import grade, is_correct
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
from tests.conftest import STAFF, CaughtMail, Stack, token_from, unique_email
from tests.history import payload_json
from tests.samples import upload_recording, webm

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


@pytest.fixture
def pipelines(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Registers the test pipelines; returns their names by role."""
    names: dict[str, str] = {}
    for role, pipeline in (
        ("extensions", EXTENSIONS),
        ("reject", assessment_pipeline("reject")),
        ("inform", assessment_pipeline("inform")),
        ("takes", TAKES),
    ):
        monkeypatch.setitem(PIPELINES, pipeline.name, validate(pipeline))
        names[role] = pipeline.name
    return names


# ------------------------------------------------------------------------------------ the stack


async def _busy(stack: Stack, workflow_id: str) -> list[str]:
    """What a running workflow (or its review tasks) still has in flight: activities, tasks."""
    description = await stack.client.get_workflow_handle(workflow_id).describe()
    if description.status != WorkflowExecutionStatus.RUNNING:
        return []
    raw = description.raw_description
    busy = [f"{workflow_id}: {a.activity_type.name}" for a in raw.pending_activities]
    if raw.HasField("pending_workflow_task"):
        busy.append(f"{workflow_id}: workflow task")
    for child in raw.pending_children:
        busy += await _busy(stack, child.workflow_id)
    return busy


async def wait_until_idle(stack: Stack, timeout: float = 20.0) -> None:
    """Wait until no workflow of the test has an activity or task in flight. The time-skipping server
    is shared by the session, and an activity left scheduled when a test's workflows are terminated
    stalls every later `env.sleep` there until it times out."""
    with Session(stack.engine) as session:
        workflow_ids = list(session.exec(select(Application.workflow_id)).all())
    quiet = 0
    async with asyncio.timeout(timeout):
        while quiet < 3:
            busy = [b for workflow_id in workflow_ids for b in await _busy(stack, workflow_id)]
            quiet = 0 if busy else quiet + 1
            await asyncio.sleep(0.1)


@pytest.fixture
async def ts(skipping_stack: Stack) -> AsyncIterator[Stack]:
    """The time-skipping stack, left idle at the end of the test (before its workflows are ended)."""
    yield skipping_stack
    await wait_until_idle(skipping_stack)


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


async def state(stack: Stack, application_id: str) -> ApplicationState:
    result: ApplicationState = await stack.workflow(application_id).query(
        "state", result_type=ApplicationState
    )
    return result


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


def subject(mail: CaughtMail) -> str:
    """The subject as a mail client shows it. A subject longer than a header line is folded right
    after "Subject:", and Python's parser keeps the folding space at the start."""
    return " ".join(mail.subject.split())


def subjects(mails: list[CaughtMail]) -> list[str]:
    return [subject(mail) for mail in mails]


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


# ================================================================================ extensions


async def test_an_extension_within_auto_grant_moves_the_deadline_reminder_and_expiry(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Auto-extended agent")
    old_deadline = instant((await stack.application(invited.application_id))["deadline"])

    await stack.env.sleep(A_DAY)
    response = await ask_for_time(stack, invited, 48, "A family matter this week.")
    assert response.status_code == 200, response.text
    body = response.json()
    new_deadline = old_deadline + timedelta(hours=48)
    assert abs(instant(body["deadline"]) - new_deadline) <= TOLERANCE
    assert body["pending_extension_hours"] is None
    assert (
        abs(instant((await stack.application(invited.application_id))["deadline"]) - new_deadline)
        <= TOLERANCE
    )

    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert subject(mails[1]) == granted_subject(invited.title)
    assert format_deadline(instant(body["deadline"]), TIMEZONE) in " ".join(mails[1].text.split())
    assert stack.mailbox.to(ANA) == []  # granted at once: nobody is asked

    # Past the old reminder (day 6) and the old deadline (day 7): no reminder, no expiry.
    await stack.env.sleep(6 * A_DAY + 12 * HOURS)  # day 7.5
    await stack.mailbox.settle(1.0)
    assert len(stack.mailbox.to(invited.address)) == 2
    assert (await stack.application(invited.application_id))["status"] == "invited"
    assert (await state(stack, invited.application_id)).reminders_sent == []

    # One day before the new deadline (day 8): the reminder, naming the new deadline.
    await stack.env.sleep(14 * HOURS)  # day 8 + 2 h
    mails = await stack.mailbox.wait_for(invited.address, 3)
    closes = format_deadline(instant(body["deadline"]), TIMEZONE)
    assert subject(mails[2]) == f"Reminder: your interview for {invited.title} closes {closes}"

    # The new deadline (day 9): the interview closes then.
    await stack.env.sleep(A_DAY)  # day 9 + 2 h
    mails = await stack.mailbox.wait_for(invited.address, 4)
    assert subject(mails[3]) == f"Your interview for {invited.title} has closed"
    result = await stack.workflow(invited.application_id).result()
    assert result.status == "expired" and result.reminders_sent == [REMINDER_KEY]

    started, emails = await scheduled_emails(stack, invited.application_id)
    assert [key for _, key in emails] == ["invite", "extension-granted-1", REMINDER_KEY, "expired"]
    due = [started, started + A_DAY, started + 8 * A_DAY, started + 9 * A_DAY]
    for (at, key), expected in zip(emails, due, strict=True):
        assert abs(at - expected) <= TOLERANCE, (key, at, expected)


async def test_an_extension_beyond_auto_grant_waits_for_the_recruiter_who_grants_it(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Patient agent")
    old_deadline = instant((await stack.application(invited.application_id))["deadline"])

    response = await ask_for_time(stack, invited, 72, "My laptop broke.")
    assert response.status_code == 200, response.text
    assert response.json()["pending_extension_hours"] == 72
    assert abs(instant(response.json()["deadline"]) - old_deadline) <= TOLERANCE

    # The contact person is asked, by a staff email that does not name the candidate.
    [asked] = await stack.mailbox.wait_for(ANA, 1)
    assert subject(asked) == request_subject(invited)
    text = " ".join(asked.text.split())
    assert "3 days" in text and "My laptop broke." in text
    assert CANDIDATE_NAME not in text and invited.address not in text
    assert asked.recipients == [ANA]
    assert (await state(stack, invited.application_id)).pending_extension_seconds == 72 * 3600
    assert (
        abs(instant((await stack.application(invited.application_id))["deadline"]) - old_deadline)
        <= TOLERANCE
    )

    # Meanwhile another request is refused: one at a time.
    again = await ask_for_time(stack, invited, 24)
    assert again.status_code == 409, again.text
    assert "already waiting for the recruiter" in detail_of(again)
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(invited.address)) == 1 and len(stack.mailbox.to(ANA)) == 1

    granted = await decide_extension(stack, invited, grant=True)
    assert granted.status_code == 200, granted.text
    new_deadline = old_deadline + timedelta(hours=72)
    assert abs(instant(granted.json()["deadline"]) - new_deadline) <= TOLERANCE
    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert subject(mails[1]) == granted_subject(invited.title)
    assert format_deadline(instant(granted.json()["deadline"]), TIMEZONE) in " ".join(mails[1].text.split())
    assert (await state(stack, invited.application_id)).pending_extension_seconds is None

    again = await decide_extension(stack, invited, grant=True)
    assert again.status_code == 409, again.text
    assert "no extension request is waiting" in detail_of(again)

    # The granted time counts: still open a day after the old deadline.
    await stack.env.sleep(8 * A_DAY)
    await stack.mailbox.settle(0.5)
    assert (await stack.application(invited.application_id))["status"] == "invited"
    assert f"Your interview for {invited.title} has closed" not in subjects(stack.mailbox.to(invited.address))


async def test_an_extension_the_recruiter_refuses_leaves_the_deadline_unchanged(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Refused agent")
    old_deadline = instant((await stack.application(invited.application_id))["deadline"])

    response = await ask_for_time(stack, invited, 96)
    assert response.status_code == 200, response.text
    assert response.json()["pending_extension_hours"] == 96
    await stack.mailbox.wait_for(ANA, 1)

    refused = await decide_extension(stack, invited, grant=False)
    assert refused.status_code == 200, refused.text
    assert abs(instant(refused.json()["deadline"]) - old_deadline) <= TOLERANCE
    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert subject(mails[1]) == refused_subject(invited.title)
    assert "Ana Lima" in mails[1].text  # the contact the candidate can reply to
    assert (await state(stack, invited.application_id)).pending_extension_seconds is None

    again = await decide_extension(stack, invited, grant=True)
    assert again.status_code == 409, again.text
    assert "no extension request is waiting" in detail_of(again)
    assert (
        abs(instant((await stack.application(invited.application_id))["deadline"]) - old_deadline)
        <= TOLERANCE
    )

    # The original deadline still holds.
    await stack.env.sleep(7 * A_DAY + timedelta(minutes=1))
    await stack.wait_status(invited.application_id, "expired")
    mails = await stack.mailbox.wait_for(invited.address, 4)
    result = await stack.workflow(invited.application_id).result()
    assert result.status == "expired"
    assert result.deadline is not None and abs(result.deadline - old_deadline) <= TOLERANCE
    assert granted_subject(invited.title) not in subjects(mails)


async def test_each_new_extension_request_and_refusal_is_emailed(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    """A candidate refused once may ask again; the contact must hear of the new request and the
    candidate of the new answer, even when the second request is for the same time."""
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Persistent agent")

    for attempt in (1, 2):
        response = await ask_for_time(stack, invited, 72, f"Attempt {attempt}")
        assert response.status_code == 200, response.text
        assert response.json()["pending_extension_hours"] == 72
        refused = await decide_extension(stack, invited, grant=False)
        assert refused.status_code == 200, refused.text

    await stack.mailbox.wait_for(invited.address, 2)
    await stack.mailbox.settle(1.5)
    assert subjects(stack.mailbox.to(ANA)) == [request_subject(invited)] * 2
    assert "Attempt 2" in stack.mailbox.to(ANA)[-1].text
    assert subjects(stack.mailbox.to(invited.address))[1:] == [refused_subject(invited.title)] * 2


async def test_an_extension_beyond_the_maximum_is_refused_at_once(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Greedy agent")
    old_deadline = instant((await stack.application(invited.application_id))["deadline"])

    too_much = await ask_for_time(stack, invited, 6 * 24)  # 6 days; the maximum is 5 in total
    assert too_much.status_code == 409, too_much.text
    assert "at most 5 days of extensions in total" in detail_of(too_much)

    # Two days granted at once; four more would exceed the total of five.
    first = await ask_for_time(stack, invited, 48)
    assert first.status_code == 200, first.text
    await stack.mailbox.wait_for(invited.address, 2)
    beyond = await ask_for_time(stack, invited, 4 * 24)
    assert beyond.status_code == 409, beyond.text
    assert "at most 5 days of extensions in total; 3 days left" in detail_of(beyond)

    await stack.mailbox.settle(1.0)
    application = await stack.application(invited.application_id)
    assert abs(instant(application["deadline"]) - (old_deadline + timedelta(hours=48))) <= TOLERANCE
    assert application["status"] == "invited"
    current = await state(stack, invited.application_id)
    assert current.pending_extension_seconds is None
    assert stack.mailbox.to(ANA) == []
    assert subjects(stack.mailbox.to(invited.address))[1:] == [granted_subject(invited.title)]


async def test_no_extension_after_the_deadline_even_one_asked_for_in_time(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Late agent")
    old_deadline = instant((await stack.application(invited.application_id))["deadline"])

    # Asked for on day 6.5; the recruiter has not answered by the deadline.
    await stack.env.sleep(6 * A_DAY + 12 * HOURS)
    pending = await ask_for_time(stack, invited, 72)
    assert pending.status_code == 200, pending.text
    await stack.mailbox.wait_for(ANA, 1)

    await stack.env.sleep(A_DAY)
    await stack.wait_status(invited.application_id, "expired")
    mails = await stack.mailbox.wait_for(invited.address, 3)
    assert subject(mails[-1]) == f"Your interview for {invited.title} has closed"

    late = await ask_for_time(stack, invited, 24)
    assert late.status_code == 409, late.text
    assert "expired" in detail_of(late)
    too_late = await decide_extension(stack, invited, grant=True)
    assert too_late.status_code == 409, too_late.text

    await stack.mailbox.settle(1.0)
    application = await stack.application(invited.application_id)
    assert application["status"] == "expired"
    assert abs(instant(application["deadline"]) - old_deadline) <= TOLERANCE
    assert granted_subject(invited.title) not in subjects(stack.mailbox.to(invited.address))


# ================================================================================ assessment


async def test_a_passing_assessment_after_the_interview_moves_on_to_review(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["reject"], "Quizzed agent")

    early = await candidate_post(stack, invited, "assessment/start")
    assert early.status_code == 409, early.text
    assert "finish the interview first" in detail_of(early)
    early_answer = await candidate_post(
        stack, invited, "assessment/answers", {"question_id": "refund", "value": "Yes"}
    )
    assert early_answer.status_code == 409, early_answer.text

    await submit_interview(stack, invited)
    started = await candidate_post(stack, invited, "assessment/start")
    assert started.status_code == 200, started.text
    assert started.json()["assessment_ends_at"] is not None

    # The candidate sees the questions, never the answers.
    async with asyncio.timeout(10):
        while (view := (await stack.http.get(f"/api/v1/candidate/{invited.token}")).json())[
            "assessment"
        ] is None:
            await asyncio.sleep(0.05)
    assert [q["id"] for q in view["assessment"]] == GRADED_IDS
    assert all("answer" not in q for q in view["assessment"])

    await answer_assessment(stack, invited, THREE_RIGHT)  # 3 of 4 at a pass mark of 0.75
    submitted = await candidate_post(stack, invited, "assessment/submit")
    assert submitted.status_code == 200, submitted.text

    application = await stack.wait_status(invited.application_id, "in_review")
    [result] = application["assessments"]
    assert result["stage_id"] == "assessment"
    assert (result["points"], result["max_points"], result["passed"]) == (3, 4, True)
    assert result["answers"] == THREE_RIGHT
    assert [a["reviewer"] for a in application["review_assignments"]] == ["sam"]
    current = await state(stack, invited.application_id)
    assert current.assessment_passed is True and current.assessment_score == 0.75

    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert subject(mails[1]) == f"We have received your answers for {invited.title}"
    [assigned] = await stack.mailbox.wait_for(SAM, 1)
    assert subject(assigned).startswith(f"New review: {invited.title}")

    # Done: no more answers and no second submission.
    late = await candidate_post(
        stack, invited, "assessment/answers", {"question_id": "first_reply", "value": "2"}
    )
    assert late.status_code == 409, late.text
    assert "takes no more answers" in detail_of(late)
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 409
    assert (await stack.application(invited.application_id))["assessments"][0]["points"] == 3


async def test_a_failing_assessment_with_on_fail_reject_ends_the_application(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    """The example support-agent pipeline: recorded, text and choice interview, then a quiz that
    rejects below 75%."""
    stack = ts
    invited = await invite(stack, "support-agent", "Support agent (quiz)")
    video = await upload(stack, invited, "angry_customer", webm(1.0), "video")
    assert video.status_code == 200, video.text
    # why_support is timed: its clock starts when it is opened.
    assert (await candidate_post(stack, invited, "questions/why_support/open")).status_code == 200
    for question_id, text in (("why_support", "I like solving problems for people."), ("shift", "Any")):
        answer = await candidate_post(stack, invited, "answers", {"question_id": question_id, "text": text})
        assert answer.status_code == 200, answer.text
    assert (await candidate_post(stack, invited, "submit")).status_code == 200

    assert (await candidate_post(stack, invited, "assessment/start")).status_code == 200
    answers = {
        "refund_window": "Yes",
        "tickets_per_hour": "7",
        "escalation_team": "sales",
        "first_reply": "10",
    }
    await answer_assessment(stack, invited, answers)  # 2 of 4: below the 0.75 pass mark
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 200

    application = await stack.wait_status(invited.application_id, "rejected")
    [result] = application["assessments"]
    assert (result["points"], result["max_points"], result["passed"]) == (2, 4, False)
    assert result["answers"] == answers

    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert subject(mails[1]) == f"Your application for {invited.title}"
    assert "did not reach the mark" in " ".join(mails[1].text.split())
    final = await stack.workflow(invited.application_id).result()
    assert final.status == "rejected" and final.outcome == "rejected"
    assert final.reviewers == [] and final.assessment_passed is False

    # No reviewer is ever assigned, even days later.
    await stack.env.sleep(3 * A_DAY)
    await stack.mailbox.settle(1.0)
    application = await stack.application(invited.application_id)
    assert application["review_assignments"] == [] and application["scorecards"] == []
    for reviewer in SUPPORT_POOL:
        assert stack.mailbox.to(reviewer) == [], reviewer
    assert len(stack.mailbox.to(invited.address)) == 2


async def test_a_failing_assessment_with_on_fail_inform_still_goes_to_review(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["inform"], "Informed agent")
    await submit_interview(stack, invited)
    assert (await candidate_post(stack, invited, "assessment/start")).status_code == 200
    await answer_assessment(stack, invited, TWO_RIGHT)
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 200

    application = await stack.wait_status(invited.application_id, "in_review")
    [result] = application["assessments"]
    assert (result["points"], result["max_points"], result["passed"]) == (2, 4, False)
    assert [a["reviewer"] for a in application["review_assignments"]] == ["sam"]
    assert (await state(stack, invited.application_id)).assessment_passed is False
    mails = await stack.mailbox.wait_for(invited.address, 2)
    await stack.mailbox.settle(0.5)
    assert subjects(stack.mailbox.to(invited.address))[1:] == [
        f"We have received your answers for {invited.title}"
    ]
    assert subject(mails[1]) != f"Your application for {invited.title}"

    # The reviewer sees the result too.
    view = await stack.http.get(
        f"/api/v1/applications/{invited.application_id}/review", params={"reviewer_id": "sam"}, headers=STAFF
    )
    assert view.status_code == 200, view.text
    assert [(a["points"], a["passed"]) for a in view.json()["assessments"]] == [(2, False)]


async def test_at_the_time_limit_the_assessment_is_graded_with_what_was_answered(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["inform"], "Slow agent")
    await submit_interview(stack, invited)
    started = await candidate_post(stack, invited, "assessment/start")
    assert started.status_code == 200, started.text
    ends_at = instant(started.json()["assessment_ends_at"])
    await answer_assessment(stack, invited, {"refund": "Yes"})

    # Just before the limit: still open.
    await stack.env.sleep(timedelta(minutes=19))
    await stack.mailbox.settle(0.5)
    assert (await stack.application(invited.application_id))["assessments"] == []
    assert (await state(stack, invited.application_id)).status == "in_progress"

    await stack.env.sleep(timedelta(minutes=2))
    application = await wait_assessed(stack, invited.application_id)
    [result] = application["assessments"]
    assert result["answers"] == {"refund": "Yes"}
    assert (result["points"], result["max_points"], result["passed"]) == (1, 4, False)
    finished, begun = instant(result["finished_at"]), instant(result["started_at"])
    assert abs(begun + timedelta(minutes=20) - ends_at) <= TOLERANCE
    assert timedelta(minutes=20) <= finished - begun <= timedelta(minutes=20) + TOLERANCE

    late = await candidate_post(
        stack, invited, "assessment/answers", {"question_id": "per_hour", "value": "7"}
    )
    assert late.status_code == 409, late.text
    assert "time limit" in detail_of(late) or "takes no more answers" in detail_of(late)
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 409
    application = await stack.wait_status(invited.application_id, "in_review")  # on_fail="inform"
    assert application["assessments"][0]["answers"] == {"refund": "Yes"}


async def test_assessment_refusals_name_the_problem(ts: Stack, pipelines: dict[str, str]) -> None:
    stack = ts
    invited = await invite(stack, pipelines["inform"], "Careless agent")
    await submit_interview(stack, invited)

    before = await candidate_post(
        stack, invited, "assessment/answers", {"question_id": "refund", "value": "Yes"}
    )
    assert before.status_code == 409, before.text
    assert "start the assessment first" in detail_of(before)
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 409

    assert (await candidate_post(stack, invited, "assessment/start")).status_code == 200
    twice = await candidate_post(stack, invited, "assessment/start")
    assert twice.status_code == 409, twice.text
    assert "already been started" in detail_of(twice)

    for unknown in ("nope", "intro"):  # "intro" is an interview question, not an assessment one
        response = await candidate_post(
            stack, invited, "assessment/answers", {"question_id": unknown, "value": "1"}
        )
        assert response.status_code == 422, response.text
        assert f"unknown question_id '{unknown}'" in detail_of(response)
        assert ", ".join(GRADED_IDS) in detail_of(response)
    blank = await candidate_post(
        stack, invited, "assessment/answers", {"question_id": "team", "value": "   "}
    )
    assert blank.status_code == 422, blank.text

    # None of that was recorded: the submitted assessment holds only the valid answer.
    await answer_assessment(stack, invited, {"team": "billing team"})
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 200
    application = await wait_assessed(stack, invited.application_id)
    [result] = application["assessments"]
    assert result["answers"] == {"team": "billing team"} and result["points"] == 1


# ================================================================================ recorded takes


async def test_recorded_answers_allow_only_their_takes(ts: Stack, pipelines: dict[str, str]) -> None:
    stack = ts
    invited = await invite(stack, pipelines["takes"], "Recorded agent")

    # Think time set: one take only.
    pitch = [webm(1.0), webm(1.2)]
    voice = [webm(1.0 + take / 10, video=False) for take in range(4)]
    first = await upload(stack, invited, "pitch", pitch[0], "video")
    assert first.status_code == 200, first.text
    second = await upload(stack, invited, "pitch", pitch[1], "video")
    assert second.status_code == 409, second.text
    assert "allows 1 take(s); none left" in detail_of(second)

    # retakes=2: three takes.
    for take in (0, 1, 2):
        response = await upload(stack, invited, "voice", voice[take], "audio")
        assert response.status_code == 200, (take, response.text)
    fourth = await upload(stack, invited, "voice", voice[3], "audio")
    assert fourth.status_code == 409, fourth.text
    assert "allows 3 take(s); none left" in detail_of(fourth)

    answers = {a["question_id"]: a for a in (await stack.application(invited.application_id))["answers"]}
    assert answers["pitch"]["file_sha256"] == hashlib.sha256(pitch[0]).hexdigest()
    assert answers["voice"]["file_sha256"] == hashlib.sha256(voice[2]).hexdigest()
    assert (await candidate_post(stack, invited, "submit")).status_code == 200


# ================================================================================ grading


@pytest.mark.parametrize(
    ("given", "correct"),
    [
        ("7", True),
        ("7.5", True),
        ("6,5", True),
        (" 7.2 ", True),
        ("7.51", False),
        ("6.4", False),
        ("seven", False),
        ("", False),
        ("nan", False),
        ("inf", False),
    ],
)
def test_numeric_answers_are_accepted_within_the_tolerance(given: str, correct: bool) -> None:
    question = GradedQuestion("q", "Tickets per hour?", "numeric", "7", tolerance=0.5)
    assert is_correct(question, given) is correct


def test_numeric_answers_without_tolerance_must_be_exact() -> None:
    question = GradedQuestion("q", "Minutes?", "numeric", "2")
    assert is_correct(question, "2.0") and is_correct(question, "2")
    assert not is_correct(question, "2.01")


@pytest.mark.parametrize(
    ("given", "correct"),
    [
        ("billing team", True),
        ("BILLING TEAM", True),
        ("  Billing   team  ", True),
        ("Billing\tteam", True),
        ("billingteam", False),
        ("billing", False),
        ("billing teams", False),
    ],
)
def test_exact_answers_ignore_case_and_spaces(given: str, correct: bool) -> None:
    question = GradedQuestion("q", "Which team?", "exact", "Billing Team")
    assert is_correct(question, given) is correct


def test_choice_answers_must_be_the_right_choice() -> None:
    question = GradedQuestion("q", "Refund?", "choice", "Yes", ("Yes", "No"))
    assert is_correct(question, "Yes") and is_correct(question, " Yes ")
    assert not is_correct(question, "No")


@pytest.mark.parametrize(
    ("right", "pass_mark", "passed"),
    [(3, 0.75, True), (2, 0.75, False), (4, 0.75, True), (0, 0.75, False), (3, 0.7, True), (3, 0.8, False)],
)
def test_the_pass_mark_is_a_share_of_the_points(right: int, pass_mark: float, passed: bool) -> None:
    assessment = Assessment(questions=GRADED, pass_mark=pass_mark)
    right_answers = {"refund": "Yes", "per_hour": "7", "team": "billing team", "first_reply": "2"}
    answers = {q: (v if i < right else "wrong") for i, (q, v) in enumerate(right_answers.items())}
    result = grade(assessment, answers)
    assert (result.points, result.max_points, result.passed) == (right, 4, passed)
    assert result.correct == GRADED_IDS[:right]


def test_grading_weighs_points_and_ignores_unknown_or_missing_answers() -> None:
    questions = (
        GradedQuestion("big", "Worth three", "exact", "yes", points=3),
        GradedQuestion("small", "Worth one", "exact", "yes"),
    )
    assessment = Assessment(questions=questions, pass_mark=0.75)
    result = grade(assessment, {"big": "YES", "stray": "yes"})
    assert (result.points, result.max_points, result.passed, result.correct) == (3, 4, True, ["big"])
    assert result.share == 0.75
    nothing = grade(assessment, {})
    assert (nothing.points, nothing.passed, nothing.correct) == (0, False, [])
    # Floating point: 0.1 + 0.2 style shares still pass a mark equal to them.
    tenths = Assessment(
        questions=tuple(GradedQuestion(f"q{i}", "?", "exact", "a") for i in range(10)), pass_mark=0.1 * 3
    )
    assert grade(tenths, {"q0": "a", "q1": "a", "q2": "a"}).passed
