"""The rules a candidate's link is held to on the server, with the browser bypassed.

The portal's recorder hides timed prompts, counts down and stops recording at the limit, but a
candidate (or a script) can call the JSON API directly. These tests do exactly that and check that
the server itself refuses what the rules forbid (recording before consent, a late answer, an extra
take, an over-long recording, a file that is not what it claims, an upload over its size limit),
that refusals leave nothing behind, that the portal's forms need their CSRF token, that links are
rate-limited per address, and that the contact thread and deletion requests reach people by email.

Real parts throughout: Temporal (dev server, or the time-skipping server where time must pass), a
worker, SQLite, SMTP, and real VP8/Opus WebM recordings from tests.samples.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from api.app import create_app
from offhours.models import Answer, Application, CandidateFeedback, ContactMessage, DeletionRequest
from offhours.settings import Settings
from offhours.vault import Vault
from pipelines.people import PEOPLE
from pipelines.registry import PIPELINES, Pipeline, validate
from pipelines.stages import Criterion, Decision, Interview, Invite, Question, Review
from tests.conftest import STAFF, CaughtMail, Stack, token_from, unique_email
from tests.samples import PDF, webm

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


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the test pipeline for this test; returns its name."""
    monkeypatch.setitem(PIPELINES, RULES.name, validate(RULES))
    return RULES.name


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


def app_with(stack: Stack, **overrides: Any) -> FastAPI:
    """The same product (same Temporal, worker and database) served by an app with other settings."""
    settings = stack.settings.model_copy(update=overrides) if overrides else stack.settings
    return create_app(settings, temporal_client=stack.client, engine=stack.engine)


@asynccontextmanager
async def browser(app: FastAPI, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookie jar, connecting from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://offhours.test") as client:
        yield client


async def mail_with_key(stack: Stack, address: str, key: str, timeout: float = 20.0) -> CaughtMail:
    """The email whose Message-ID starts with `key` (each email type has its own key)."""
    async with asyncio.timeout(timeout):
        while True:
            found = [m for m in stack.mailbox.to(address) if message_key(m).startswith(key)]
            if found:
                return found[0]
            await asyncio.sleep(0.05)


async def opening_recorded(stack: Stack, who: Invited, timeout: float = 10.0) -> None:
    """Wait until the first successful view of the link is recorded (a fire-and-forget signal to the
    workflow): the stack's teardown must not find that signal's work still in flight."""
    async with asyncio.timeout(timeout):
        while application_row(stack, who).opened_at is None:
            await asyncio.sleep(0.05)


def message_key(mail: CaughtMail) -> str:
    """What an email is (invite, msg-..., deletion-requested...): its Message-ID before the application
    id. A long Message-ID may arrive folded onto a continuation line, hence the strip."""
    return mail.message_id.strip().removeprefix("<").split(".")[0]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


# ------------------------------------------------------------------------------------ 1. consent


async def test_recording_needs_consent_to_the_current_wording(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    before = await view(stack, who)
    assert before["consent_required"] is True and before["consent_at"] is None

    early = await upload(stack.http, who, "intro", webm(1.0))
    assert early.status_code == 409, early.text
    assert "consent" in early.json()["detail"]
    assert stored_answer(stack, who, "intro") is None
    assert stored_files(stack.settings) == set(), "a refused recording must not be kept"

    opened = await open_question(stack, who, "one_go")
    assert opened.status_code == 409, opened.text
    assert "consent" in opened.json()["detail"]

    stale = await stack.http.post(f"{who.api}/consent", json={"version": "0" * 64})
    assert stale.status_code == 409, stale.text
    assert "wording has changed" in stale.json()["detail"] and "reload" in stale.json()["detail"]
    assert application_row(stack, who).consent_at is None

    given = await stack.http.post(f"{who.api}/consent", json={"version": before["consent_version"]})
    assert given.status_code == 200, given.text
    row = application_row(stack, who)
    assert row.consent_at is not None
    assert row.consent_version == before["consent_version"]
    shown = (await view(stack, who))["consent_at"]
    assert shown is not None

    again = await stack.http.post(f"{who.api}/consent", json={"version": before["consent_version"]})
    assert again.status_code == 200, again.text
    assert application_row(stack, who).consent_at == row.consent_at, "the first consent counts"
    assert (await view(stack, who))["consent_at"] == shown

    # The same recording is now accepted: consent was the only thing missing.
    accepted = await upload(stack.http, who, "intro", webm(1.0))
    assert accepted.status_code == 200, accepted.text
    assert "intro" in accepted.json()["answered"]


# ------------------------------------------------------------------------------- 2. hidden prompts


async def test_timed_prompts_stay_hidden_until_opened_and_reopening_starts_no_new_take(
    stack: Stack, rules: str
) -> None:
    who = await invite(stack, rules)
    await consent(stack, who)
    first = await view(stack, who)
    for timed in ("one_go", "two_takes", "short", "essay", "unopened"):
        assert question(first, timed)["prompt"] is None, f"{timed}'s prompt is visible before it is opened"
    assert question(first, "intro")["prompt"] == PROMPTS["intro"]
    assert question(first, "cv")["prompt"] == PROMPTS["cv"]
    raw = (await stack.http.get(who.api)).text
    assert PROMPTS["one_go"] not in raw and PROMPTS["essay"] not in raw

    opened = await open_question(stack, who, "one_go")
    assert opened.status_code == 200, opened.text
    take = opened.json()
    assert take["prompt"] == PROMPTS["one_go"]
    assert take["take"] == 1 and take["takes_allowed"] == 1
    assert at(take["think_ends_at"]) - at(take["opened_at"]) == timedelta(seconds=30)
    assert at(take["answer_ends_at"]) - at(take["opened_at"]) == timedelta(seconds=30 + 60)

    seen = question(await view(stack, who), "one_go")
    assert seen["prompt"] == PROMPTS["one_go"]
    assert seen["takes_used"] == 1
    assert seen["open_take"]["opened_at"] == take["opened_at"]

    reopened = await open_question(stack, who, "one_go")
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["take"] == 1
    assert reopened.json()["opened_at"] == take["opened_at"], "reopening must not restart the clock"
    assert question(await view(stack, who), "one_go")["takes_used"] == 1

    essay = await open_question(stack, who, "essay")
    assert essay.status_code == 200, essay.text
    assert essay.json()["prompt"] == PROMPTS["essay"]
    assert essay.json()["think_ends_at"] is None
    assert at(essay.json()["answer_ends_at"]) - at(essay.json()["opened_at"]) == timedelta(seconds=120)
    assert question(await view(stack, who), "unopened")["prompt"] is None


# ------------------------------------------------------------------------------- 3. time limits


async def test_answers_after_the_time_has_run_out_are_refused(skipping_stack: Stack, rules: str) -> None:
    stack = skipping_stack
    who = await invite(stack, rules)
    await consent(stack, who)
    assert (await open_question(stack, who, "one_go")).status_code == 200
    in_time = await upload(stack.http, who, "one_go", webm(1.0))
    assert in_time.status_code == 200, in_time.text

    assert (await open_question(stack, who, "essay")).status_code == 200
    assert (await open_question(stack, who, "two_takes")).status_code == 200
    await stack.env.sleep(timedelta(minutes=10))

    late_text = await write(stack, who, "essay", "Four long days and a short one.")
    assert late_text.status_code == 409, late_text.text
    assert "time for question 'essay' has run out" in late_text.json()["detail"]
    late_video = await upload(stack.http, who, "two_takes", webm(1.5))
    assert late_video.status_code == 409, late_video.text
    assert "time for question 'two_takes' has run out" in late_video.json()["detail"]
    # Opening the question again does not give a fresh clock: its one take is spent.
    reopened = await open_question(stack, who, "essay")
    assert reopened.status_code == 409, reopened.text
    assert "allows 1 take(s); none left" in reopened.json()["detail"]

    assert answered_questions(stack, who) == {"one_go"}
    assert (await view(stack, who))["progress"]["answered"] == 1
    assert stored_files(stack.settings) == {sha(webm(1.0))}, "the late recording must not be kept"


async def test_a_late_answer_within_the_grace_period_still_counts(skipping_stack: Stack, rules: str) -> None:
    """ANSWER_GRACE (60 s) forgives a slow upload, not more: 170 s after opening, a 120 s text
    question (ends at 180 s) is still answerable and a 30+60 s recording (ends at 150 s) is not."""
    stack = skipping_stack
    who = await invite(stack, rules)
    await consent(stack, who)
    assert (await open_question(stack, who, "essay")).status_code == 200
    assert (await open_question(stack, who, "one_go")).status_code == 200
    await stack.env.sleep(timedelta(seconds=170))

    essay = await write(stack, who, "essay", "Four long days and a short one.")
    assert essay.status_code == 200, essay.text
    recording = await upload(stack.http, who, "one_go", webm(1.0))
    assert recording.status_code == 409, recording.text
    assert "has run out" in recording.json()["detail"]
    assert answered_questions(stack, who) == {"essay"}


async def test_a_timed_question_must_be_opened_before_it_is_answered(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    await consent(stack, who)
    text = await write(stack, who, "unopened", "I never saw the question.")
    assert text.status_code == 409, text.text
    assert "open question 'unopened' first" in text.json()["detail"]
    recording = await upload(stack.http, who, "one_go", webm(1.0))
    assert recording.status_code == 409, recording.text
    assert "open question 'one_go' first" in recording.json()["detail"]
    assert answered_questions(stack, who) == set()
    assert stored_files(stack.settings) == set()


async def test_a_timed_written_answer_can_be_corrected_while_its_clock_runs(stack: Stack, rules: str) -> None:
    """A timed text question gives 120 s from opening. Saving a first version after a few seconds
    must not end that time: the portal shows the saved text in an editable form, and a correction
    sent well within the 120 s is the candidate's answer. (A refusal here must at least not claim
    that the time has run out.)"""
    who = await invite(stack, rules)
    opened = await open_question(stack, who, "essay")
    assert opened.status_code == 200, opened.text
    draft = await write(stack, who, "essay", "Four long days.")
    assert draft.status_code == 200, draft.text
    assert datetime.now(UTC) < at(opened.json()["answer_ends_at"]) - timedelta(seconds=60)

    page = await stack.http.get(f"{who.portal}/questions/essay")
    assert page.status_code == 200 and 'name="answer"' in page.text, "the portal offers to edit the answer"
    corrected = await write(stack, who, "essay", "Four long days and a short one.")
    assert "has run out" not in corrected.text, "the clock has not run out: 100 s or so are left"
    assert corrected.status_code == 200, corrected.text
    saved = stored_answer(stack, who, "essay")
    assert saved is not None and saved.text is None, "written answers are stored sealed"
    with Session(stack.engine) as session:
        assert Vault(stack.settings).read_text(session, saved.text_id) == "Four long days and a short one."


# ------------------------------------------------------------------------------------ 4. takes


async def test_a_recording_with_think_time_allows_one_take(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    await consent(stack, who)
    assert (await open_question(stack, who, "one_go")).status_code == 200
    first = await upload(stack.http, who, "one_go", webm(1.0))
    assert first.status_code == 200, first.text

    second = await upload(stack.http, who, "one_go", webm(1.5))
    assert second.status_code == 409, second.text
    assert "question 'one_go' allows 1 take(s); none left" in second.json()["detail"]
    reopened = await open_question(stack, who, "one_go")
    assert reopened.status_code == 409, reopened.text
    assert "question 'one_go' allows 1 take(s); none left" in reopened.json()["detail"]

    kept = stored_answer(stack, who, "one_go")
    assert kept is not None and kept.file_sha256 == sha(webm(1.0)), "the first take stays the answer"
    assert question(await view(stack, who), "one_go")["takes_used"] == 1


async def test_one_retake_allows_exactly_two_takes(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    await consent(stack, who)
    first_open = await open_question(stack, who, "two_takes")
    assert first_open.status_code == 200, first_open.text
    assert first_open.json()["take"] == 1 and first_open.json()["takes_allowed"] == 2
    assert (await upload(stack.http, who, "two_takes", webm(1.0))).status_code == 200

    second_open = await open_question(stack, who, "two_takes")
    assert second_open.status_code == 200, second_open.text
    assert second_open.json()["take"] == 2
    second = await upload(stack.http, who, "two_takes", webm(1.5))
    assert second.status_code == 200, second.text
    kept = stored_answer(stack, who, "two_takes")
    assert kept is not None and kept.file_sha256 == sha(webm(1.5)), "the latest take is the answer"

    third_open = await open_question(stack, who, "two_takes")
    assert third_open.status_code == 409, third_open.text
    assert "question 'two_takes' allows 2 take(s); none left" in third_open.json()["detail"]
    third = await upload(stack.http, who, "two_takes", webm(2.0))
    assert third.status_code == 409, third.text
    assert "none left" in third.json()["detail"]
    assert question(await view(stack, who), "two_takes")["takes_used"] == 2


# ---------------------------------------------------------------------------- 5. recording length


async def test_a_recording_longer_than_the_limit_is_refused(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    await consent(stack, who)
    long_recording, short_recording = webm(5.0), webm(1.0)
    assert (await open_question(stack, who, "short")).status_code == 200

    too_long = await upload(stack.http, who, "short", long_recording)
    assert too_long.status_code == 409, too_long.text
    detail = too_long.json()["detail"]
    assert "lasts 5 s" in detail and "'short' allows 1 s" in detail
    assert stored_answer(stack, who, "short") is None

    fits = await upload(stack.http, who, "short", short_recording)
    assert fits.status_code == 200, fits.text
    saved = stored_answer(stack, who, "short")
    assert saved is not None and saved.duration_seconds is not None
    assert saved.duration_seconds == pytest.approx(1.0, abs=0.1)
    assert stored_files(stack.settings) == {sha(short_recording)}


# ------------------------------------------------------------------------------ 6. content sniffing


async def test_a_file_that_is_not_a_recording_is_refused_and_not_kept(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    await consent(stack, who)
    fake = await upload(stack.http, who, "intro", b"Just some notes, not a recording at all.\n")
    assert fake.status_code == 422, fake.text
    assert "not a video recording" in fake.json()["detail"]
    assert "upload a WebM, MP4 or MOV video" in fake.json()["detail"]

    sound_only = await upload(stack.http, who, "intro", webm(1.0, video=False))
    assert sound_only.status_code == 422, sound_only.text
    assert "has no picture" in sound_only.json()["detail"] and "camera" in sound_only.json()["detail"]

    assert stored_answer(stack, who, "intro") is None
    assert stored_files(stack.settings) == set()
    assert half_received_files(stack.settings) == []


async def test_an_uploaded_file_is_stored_and_served_as_what_it_really_is(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    response = await upload(stack.http, who, "cv", PDF, name="cv.png", content_type="image/png")
    assert response.status_code == 200, response.text
    saved = stored_answer(stack, who, "cv")
    assert saved is not None
    assert saved.content_type == "application/pdf"
    assert saved.size == len(PDF) and saved.file_sha256 == sha(PDF)

    signed = await stack.http.get(f"/api/v1/applications/{who.application_id}/answers/cv/file", headers=STAFF)
    assert signed.status_code == 200, signed.text
    served = await stack.http.get(signed.json()["url"])
    assert served.status_code == 200, served.text
    assert served.content == PDF
    assert served.headers["content-type"].startswith("application/pdf")
    assert served.headers["x-content-type-options"] == "nosniff"


async def test_a_file_answer_is_downloaded_under_a_name_that_matches_its_type(
    stack: Stack, rules: str
) -> None:
    """The PDF was sent as "cv.png": served as application/pdf, but saved by the reviewer's browser
    as cv.png, their computer would open it as an image and fail. Recordings are renamed after their
    sniffed type (answer-<question>.webm); an uploaded file's extension must match its type too."""
    who = await invite(stack, rules)
    response = await upload(stack.http, who, "cv", PDF, name="cv.png", content_type="image/png")
    assert response.status_code == 200, response.text
    signed = await stack.http.get(f"/api/v1/applications/{who.application_id}/answers/cv/file", headers=STAFF)
    served = await stack.http.get(signed.json()["url"])
    assert served.status_code == 200
    disposition = served.headers["content-disposition"]
    name = re.search(r'filename="([^"]+)"', disposition)
    assert name, disposition
    assert name.group(1).endswith(".pdf"), f"a PDF is downloaded as {name.group(1)!r}"


async def test_a_recording_is_measured_and_served_as_webm(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    await consent(stack, who)
    recording = webm(2.0)
    response = await upload(stack.http, who, "intro", recording, name="clip.bin", content_type="text/plain")
    assert response.status_code == 200, response.text
    saved = stored_answer(stack, who, "intro")
    assert saved is not None
    assert saved.content_type == "video/webm"
    assert saved.file_name == "answer-intro.webm"
    assert saved.duration_seconds == pytest.approx(2.0, abs=0.1)

    signed = await stack.http.get(
        f"/api/v1/applications/{who.application_id}/answers/intro/file", headers=STAFF
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["sha256"] == sha(recording)
    served = await stack.http.get(signed.json()["url"])
    assert served.status_code == 200
    assert served.content == recording
    assert served.headers["content-type"] == "video/webm"


# ---------------------------------------------------------------------------------- 7. size limit


async def test_the_size_limit_depends_on_the_question_type(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    await consent(stack, who)
    app = app_with(stack, MAX_VIDEO_BYTES=1000)
    async with browser(app) as http:
        shown = await http.get(who.api)
        assert question(shown.json(), "intro")["max_bytes"] == 1000
        assert question(shown.json(), "cv")["max_bytes"] == stack.settings.MAX_FILE_BYTES

        too_big = await upload(http, who, "intro", webm(1.0))
        assert too_big.status_code == 413, too_big.text
        body = too_big.json()
        assert "larger than 1000 bytes" in body["detail"] and "question 'intro'" in body["detail"]
        assert body["limit_bytes"] == 1000

        # Another type keeps its own limit.
        cv = await upload(http, who, "cv", PDF, name="cv.pdf", content_type="application/pdf")
        assert cv.status_code == 200, cv.text

    assert stored_answer(stack, who, "intro") is None
    assert stored_files(stack.settings) == {sha(PDF)}
    assert half_received_files(stack.settings) == []


# ------------------------------------------------------------------------------ 8. orphan files


async def test_a_refused_upload_leaves_no_orphan_file(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    await consent(stack, who)
    assert (await open_question(stack, who, "one_go")).status_code == 200
    assert (await upload(stack.http, who, "one_go", webm(1.0))).status_code == 200

    refused = await upload(stack.http, who, "one_go", webm(1.5))
    assert refused.status_code == 409, refused.text
    assert stored_files(stack.settings) == {sha(webm(1.0))}

    # A refused upload of content an answer already uses must not take that answer's file with it.
    same = await upload(stack.http, who, "one_go", webm(1.0))
    assert same.status_code == 409, same.text
    assert stored_files(stack.settings) == {sha(webm(1.0))}
    assert half_received_files(stack.settings) == []
    signed = await stack.http.get(
        f"/api/v1/applications/{who.application_id}/answers/one_go/file", headers=STAFF
    )
    assert (await stack.http.get(signed.json()["url"])).content == webm(1.0)


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


async def test_the_consent_form_needs_this_browsers_csrf_token(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    app = app_with(stack)
    async with browser(app) as candidate, browser(app) as other:
        version = (await view(stack, who))["consent_version"]
        blind = await candidate.post(f"{who.portal}/consent", data={"agree": "yes", "version": version})
        assert blind.status_code == 403, blind.text
        assert "reload the page" in blind.json()["detail"]

        page = await form_page(candidate, f"{who.portal}/consent")
        own_token = CSRF_FIELD.findall(page)[0]
        version_match = VERSION_FIELD.search(page)
        assert version_match and version_match.group(1) == version
        foreign_token = CSRF_FIELD.findall(await form_page(other, f"{who.portal}/consent"))[0]
        assert foreign_token != own_token

        cookie_only = await candidate.post(f"{who.portal}/consent", data={"agree": "yes", "version": version})
        assert cookie_only.status_code == 403, cookie_only.text
        foreign = await candidate.post(
            f"{who.portal}/consent", data={"agree": "yes", "version": version, "csrf_token": foreign_token}
        )
        assert foreign.status_code == 403, foreign.text
        assert application_row(stack, who).consent_at is None

        agreed = await candidate.post(
            f"{who.portal}/consent", data={"agree": "yes", "version": version, "csrf_token": own_token}
        )
        assert agreed.status_code == 303, agreed.text
        assert agreed.headers["location"] == f"{who.portal}/practice?done=consent"
        assert application_row(stack, who).consent_at is not None


async def test_the_question_form_needs_this_browsers_csrf_token(stack: Stack) -> None:
    who = await invite(stack, "support-agent")
    app = app_with(stack)
    question_text = "Can I record my answers on a phone?"
    async with browser(app) as candidate, browser(app) as other:
        blind = await candidate.post(f"{who.portal}/messages", data={"body": question_text})
        assert blind.status_code == 403, blind.text

        own_token = CSRF_FIELD.findall(await form_page(candidate, f"{who.portal}/messages"))[0]
        foreign_token = CSRF_FIELD.findall(await form_page(other, f"{who.portal}/messages"))[0]
        foreign = await candidate.post(
            f"{who.portal}/messages", data={"body": question_text, "csrf_token": foreign_token}
        )
        assert foreign.status_code == 403, foreign.text
        with Session(stack.engine) as session:
            assert session.exec(select(ContactMessage)).all() == []

        sent = await candidate.post(
            f"{who.portal}/messages", data={"body": question_text, "csrf_token": own_token}
        )
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == f"{who.portal}/messages?done=asked"

    [mail] = await stack.mailbox.wait_for(CONTACT.email, 1)
    assert question_text in mail.text
    await stack.mailbox.settle()
    assert len(stack.mailbox.to(CONTACT.email)) == 1, "only the post with the right token is sent"


# -------------------------------------------------------------------------------- 10. rate limits


async def test_an_address_sending_bad_links_is_locked_out(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    app = app_with(stack, BAD_LINK_RATE_LIMIT="3/minute")
    async with browser(app, "198.51.100.7") as guesser, browser(app, "203.0.113.9") as neighbour:
        for attempt in range(3):
            bad = await guesser.get(f"/api/v1/candidate/guess-{attempt}")
            assert bad.status_code == 401, bad.text
            assert "not valid" in bad.json()["detail"]
        locked = await guesser.get("/api/v1/candidate/guess-3")
        assert locked.status_code == 429, locked.text
        assert "too many links that are not valid" in locked.json()["detail"]
        assert 1 <= int(locked.headers["retry-after"]) <= 60

        # Failures only are throttled: a genuine link from the same address (a candidate behind the
        # same NAT or proxy as the guesser) still works, while more guesses are refused unseen.
        valid = await guesser.get(who.api)
        assert valid.status_code == 200, valid.text
        assert (await guesser.get("/api/v1/candidate/guess-4")).status_code == 429
        # Another address is not held responsible.
        assert (await neighbour.get("/api/v1/candidate/guess-5")).status_code == 401
        assert (await neighbour.get(who.api)).status_code == 200
    await opening_recorded(stack, who)


async def test_a_link_sending_too_many_requests_is_slowed_down(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    other = await invite(stack, rules)
    app = app_with(stack, CANDIDATE_RATE_LIMIT="5/minute")
    # Counted per link, not per address: two candidates behind one address do not share a limit.
    async with browser(app, "198.51.100.8") as busy, browser(app, "198.51.100.8") as neighbour:
        for _ in range(5):
            assert (await busy.get(who.api)).status_code == 200
        sixth = await busy.get(who.api)
        assert sixth.status_code == 429, sixth.text
        assert "too many requests" in sixth.json()["detail"]
        assert 1 <= int(sixth.headers["retry-after"]) <= 60
        assert (await neighbour.get(other.api)).status_code == 200
    await opening_recorded(stack, who)
    await opening_recorded(stack, other)


# ------------------------------------------------------------------------------ 11. contact thread


async def test_the_contact_thread_goes_both_ways_by_email(stack: Stack) -> None:
    who = await invite(stack, "support-agent")
    asked_text = "Can I answer the video question from my phone?"
    answer_text = "Yes: any recent phone browser records fine."

    asked = await stack.http.post(f"{who.api}/messages", json={"body": asked_text})
    assert asked.status_code == 201, asked.text
    assert asked.json()["from_candidate"] is True
    [to_contact] = await stack.mailbox.wait_for(CONTACT.email, 1)
    assert asked_text in to_contact.text

    answered = await stack.http.post(
        f"/api/v1/applications/{who.application_id}/messages", json={"body": answer_text}, headers=STAFF
    )
    assert answered.status_code == 201, answered.text
    reply = await mail_with_key(stack, who.address, "msg-")
    assert answer_text in reply.text
    assert CONTACT.name in reply.subject

    thread = await stack.http.get(f"{who.api}/messages")
    assert thread.status_code == 200, thread.text
    assert [(m["from_candidate"], m["author"], m["body"]) for m in thread.json()] == [
        (True, "You", asked_text),
        (False, CONTACT.name, answer_text),
    ]


async def test_the_contact_thread_refuses_what_it_cannot_deliver(stack: Stack) -> None:
    no_contact = await invite(stack, "standard")
    refused = await stack.http.post(f"{no_contact.api}/messages", json={"body": "Who do I ask?"})
    assert refused.status_code == 409, refused.text
    assert "no contact person" in refused.json()["detail"]

    who = await invite(stack, "support-agent")
    for empty in ("", "   "):
        blank = await stack.http.post(f"{who.api}/messages", json={"body": empty})
        assert blank.status_code == 422, blank.text
        assert [e["field"] for e in blank.json()["errors"]] == ["body"]

    impostor = await stack.http.post(
        f"/api/v1/applications/{who.application_id}/messages",
        json={"body": "Please send your bank details."},
        headers={"Authorization": "Bearer not-the-staff-token"},
    )
    assert impostor.status_code == 401, impostor.text

    with Session(stack.engine) as session:
        assert session.exec(select(ContactMessage)).all() == []
    await stack.mailbox.settle()
    assert stack.mailbox.to(CONTACT.email) == []
    assert [message_key(m) for m in stack.mailbox.to(who.address)] == ["invite"]


# ---------------------------------------------------------------------------- 12. deletion request


async def test_a_deletion_request_is_recorded_confirmed_once_and_ends_the_application(stack: Stack) -> None:
    who = await invite(stack, "standard")
    first = await stack.http.post(f"{who.api}/deletion-request", json={"reason": "I took another job."})
    assert first.status_code == 202, first.text
    confirmation = await mail_with_key(stack, who.address, "deletion-requested")
    assert "delete" in confirmation.text
    await stack.wait_status(who.application_id, "withdrawn")

    again = await stack.http.post(f"{who.api}/deletion-request", json={})
    assert again.status_code == 202, again.text
    assert again.json()["requested_at"] == first.json()["requested_at"]
    await stack.mailbox.settle(1.5)
    confirmations = [m for m in stack.mailbox.to(who.address) if message_key(m) == "deletion-requested"]
    assert len(confirmations) == 1

    with Session(stack.engine) as session:
        rows = session.exec(
            select(DeletionRequest).where(DeletionRequest.application_id == who.application_id)
        ).all()
    assert len(rows) == 1
    assert rows[0].reason == "I took another job."
    assert (await view(stack, who))["deletion_requested_at"] is not None


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


async def test_every_portal_page_renders_safely_for_a_fresh_application(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    for path in PAGES:
        page = await stack.http.get(f"{who.portal}{path}")
        assert page.status_code == 200, f"{path}: {page.status_code} {page.text[:500]}"
        assert_portal_headers(page)
        for timed in ("one_go", "two_takes", "short", "essay", "unopened"):
            assert PROMPTS[timed] not in page.text, f"{path} shows the hidden prompt of {timed}"

    # A recorded question is not shown before consent: the page sends the candidate to consent.
    recorded = await stack.http.get(f"{who.portal}/questions/intro")
    assert recorded.status_code == 303
    assert recorded.headers["location"] == f"{who.portal}/consent"
    await consent(stack, who)
    recorded = await stack.http.get(f"{who.portal}/questions/intro")
    assert recorded.status_code == 200
    assert_portal_headers(recorded)


async def test_a_bad_link_gets_the_error_page(stack: Stack) -> None:
    for path in ("/c/not-a-valid-link", "/c/not-a-valid-link/questions"):
        page = await stack.http.get(path)
        assert page.status_code == 401, page.text
        assert_portal_headers(page)
        assert "We could not open this link" in page.text
        assert "use the link from your most recent email" in page.text


# ------------------------------------------------------------------------- found in review


async def test_thinking_longer_does_not_come_out_of_the_answer_time(
    skipping_stack: Stack, rules: str
) -> None:
    """one_go: 30 s to think, 60 s to answer. A 1 s recording sent 100 s after opening is inside the
    answer window (150 s with grace) but must have started 99 s in, long after thinking ended."""
    stack = skipping_stack
    who = await invite(stack, rules)
    await consent(stack, who)
    assert (await open_question(stack, who, "one_go")).status_code == 200
    await stack.env.sleep(timedelta(seconds=100))
    late = await upload(stack.http, who, "one_go", webm(1.0))
    assert late.status_code == 409, late.text
    assert "started after its thinking time ended" in late.json()["detail"]
    assert answered_questions(stack, who) == set()


async def test_two_uploads_at_once_for_a_one_take_question_store_one(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    await consent(stack, who)
    assert (await open_question(stack, who, "one_go")).status_code == 200
    first, second = await asyncio.gather(
        upload(stack.http, who, "one_go", webm(1.0)), upload(stack.http, who, "one_go", webm(1.2))
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409], (first.text, second.text)
    assert question(await view(stack, who), "one_go")["takes_used"] == 1


async def test_a_new_take_starts_once_the_previous_ones_time_is_over(
    skipping_stack: Stack, rules: str
) -> None:
    """two_takes: 60 s each. Opening again after 70 s (inside the upload grace, but the answer time is
    over) starts take 2 rather than returning take 1."""
    stack = skipping_stack
    who = await invite(stack, rules)
    await consent(stack, who)
    first = await open_question(stack, who, "two_takes")
    assert first.status_code == 200 and first.json()["take"] == 1
    await stack.env.sleep(timedelta(seconds=70))
    second = await open_question(stack, who, "two_takes")
    assert second.status_code == 200 and second.json()["take"] == 2, second.text
    assert (await upload(stack.http, who, "two_takes", webm(1.0))).status_code == 200
    third = await open_question(stack, who, "two_takes")
    assert third.status_code == 409 and "none left" in third.json()["detail"]


async def test_released_feedback_renders_on_the_portal(stack: Stack, rules: str) -> None:
    """The feedback page formats the recruiter's text as paragraphs (and escapes it)."""
    who = await invite(stack, rules)
    with Session(stack.engine) as session:
        session.add(
            CandidateFeedback(
                application_id=who.application_id,
                stage_id="feedback",
                strengths=[],
                to_develop=[],
                next_steps="",
                edited_text="Clear answers.\n\nNext time, show <b>how</b> you measured it.",
                released=True,
            )
        )
        session.commit()
    page = await stack.http.get(f"{who.portal}/feedback")
    assert page.status_code == 200, page.text
    assert "<p>Clear answers.</p>" in page.text and "&lt;b&gt;how&lt;/b&gt;" in page.text


async def test_forged_csrf_tokens_and_odd_hours_are_refused_not_crashes(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    page = await stack.http.get(f"{who.portal}/extension")
    assert page.status_code == 200
    odd = await stack.http.post(f"{who.portal}/extension", data={"csrf_token": "é" * 64, "hours": "2"})
    assert odd.status_code == 403, odd.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token is not None
    for hours in ("²", "9" * 5000, "-3", "0"):
        refused = await stack.http.post(
            f"{who.portal}/extension", data={"csrf_token": token[1], "hours": hours}
        )
        assert refused.status_code == 422, (hours[:10], refused.text)
        assert "whole number of hours" in refused.text
