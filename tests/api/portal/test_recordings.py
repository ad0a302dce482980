"""The rules a candidate's link is held to on the server, with the browser bypassed: recording needs
consent, timed prompts stay hidden until opened, late answers are refused, takes and recording
length are limited.

The portal's recorder hides timed prompts, counts down and stops recording at the limit, but a
candidate (or a script) can call the JSON API directly. These tests do exactly that and check that
the server itself refuses what the rules forbid. Real parts throughout: Temporal (dev server, or the
time-skipping server where time must pass), a worker, SQLite, SMTP, and real VP8/Opus WebM
recordings from tests.support.samples."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from offhours.vault import Vault
from tests.api.portal.rules import (
    PROMPTS,
    answered_questions,
    application_row,
    at,
    consent,
    invite,
    open_question,
    question,
    sha,
    stored_answer,
    stored_files,
    upload,
    view,
    write,
)
from tests.support.samples import webm
from tests.support.stack import Stack

# ------------------------------------------------------------------------------------ 1. consent


async def test_recording_needs_consent_to_the_current_wording(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    before = await view(stack, who)
    assert before["consent_required"] is True
    assert before["consent_at"] is None

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
    assert "wording has changed" in stale.json()["detail"]
    assert "reload" in stale.json()["detail"]
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
    assert PROMPTS["one_go"] not in raw
    assert PROMPTS["essay"] not in raw

    opened = await open_question(stack, who, "one_go")
    assert opened.status_code == 200, opened.text
    take = opened.json()
    assert take["prompt"] == PROMPTS["one_go"]
    assert take["take"] == 1
    assert take["takes_allowed"] == 1
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
    assert page.status_code == 200, "the portal offers to edit the answer"
    assert 'name="answer"' in page.text, "the portal offers to edit the answer"
    corrected = await write(stack, who, "essay", "Four long days and a short one.")
    assert "has run out" not in corrected.text, "the clock has not run out: 100 s or so are left"
    assert corrected.status_code == 200, corrected.text
    saved = stored_answer(stack, who, "essay")
    assert saved is not None, "written answers are stored sealed"
    assert saved.text is None, "written answers are stored sealed"
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
    assert kept is not None, "the first take stays the answer"
    assert kept.file_sha256 == sha(webm(1.0)), "the first take stays the answer"
    assert question(await view(stack, who), "one_go")["takes_used"] == 1


async def test_one_retake_allows_exactly_two_takes(stack: Stack, rules: str) -> None:
    who = await invite(stack, rules)
    await consent(stack, who)
    first_open = await open_question(stack, who, "two_takes")
    assert first_open.status_code == 200, first_open.text
    assert first_open.json()["take"] == 1
    assert first_open.json()["takes_allowed"] == 2
    assert (await upload(stack.http, who, "two_takes", webm(1.0))).status_code == 200

    second_open = await open_question(stack, who, "two_takes")
    assert second_open.status_code == 200, second_open.text
    assert second_open.json()["take"] == 2
    second = await upload(stack.http, who, "two_takes", webm(1.5))
    assert second.status_code == 200, second.text
    kept = stored_answer(stack, who, "two_takes")
    assert kept is not None, "the latest take is the answer"
    assert kept.file_sha256 == sha(webm(1.5)), "the latest take is the answer"

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
    assert "lasts 5 s" in detail
    assert "'short' allows 1 s" in detail
    assert stored_answer(stack, who, "short") is None

    fits = await upload(stack.http, who, "short", short_recording)
    assert fits.status_code == 200, fits.text
    saved = stored_answer(stack, who, "short")
    assert saved is not None
    assert saved.duration_seconds is not None
    assert saved.duration_seconds == pytest.approx(1.0, abs=0.1)
    assert stored_files(stack.settings) == {sha(short_recording)}


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
    assert first.status_code == 200
    assert first.json()["take"] == 1
    await stack.env.sleep(timedelta(seconds=70))
    second = await open_question(stack, who, "two_takes")
    assert second.status_code == 200, second.text
    assert second.json()["take"] == 2, second.text
    assert (await upload(stack.http, who, "two_takes", webm(1.0))).status_code == 200
    third = await open_question(stack, who, "two_takes")
    assert third.status_code == 409
    assert "none left" in third.json()["detail"]
