"""The portal's pages and forms: CSRF tokens on every form, rate limits per address and per link,
every page rendered safely, the error page of a bad link."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from offhours.models import CandidateFeedback, ContactMessage
from tests.api.portal.rules import (
    CONTACT,
    CSRF_FIELD,
    PAGES,
    PROMPTS,
    VERSION_FIELD,
    application_row,
    assert_portal_headers,
    browser,
    consent,
    form_page,
    invite,
    opening_recorded,
    view,
)
from tests.support.stack import Stack, app_with


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
        assert version_match
        assert version_match.group(1) == version
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
    assert "<p>Clear answers.</p>" in page.text
    assert "&lt;b&gt;how&lt;/b&gt;" in page.text


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
