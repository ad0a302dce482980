"""Whole journeys of the example pipelines in Chromium, from the link in the invite email to the end,
every step taken on a page by the person whose step it is: the candidate records, uploads, writes,
takes the assessment and books the live interview; three reviewers score blind; the contact records
the references; two of the three named approvers approve."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session

from offhours import accounts
from offhours.codec import with_codec
from offhours.contracts import ApplicationState
from pipelines.people import PEOPLE
from pipelines.registry import PIPELINES
from pipelines.stages import Onboarding
from tests.support.actors import STAFF, unique_email
from tests.support.browser import Live, Shots
from tests.support.mail import CaughtMail
from tests.support.samples import PDF

PASSWORD = "correct horse battery staple"


def account(live: Live, role: str, person_id: str) -> str:
    """A staff account linked to a person of the directory, signing in with a password: its email."""
    email = unique_email()
    with Session(live.engine) as session:
        accounts.create_user(session, email, PEOPLE[person_id].name, role, person_id, PASSWORD)
        session.commit()
    return email


async def signed_in(browser: Browser, live: Live, email: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = await context.new_page()
    await page.goto(f"{live.url}/staff/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return context, page


async def detail(live: Live, application_id: str) -> dict[str, Any]:
    response = await live.http.get(f"/api/v1/applications/{application_id}", headers=STAFF)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_for(live: Live, application_id: str, what: Any, timeout: float = 45) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            found = await detail(live, application_id)
            if what(found):
                return found
            await asyncio.sleep(0.2)


async def mail_about(live: Live, address: str, subject: str, timeout: float = 30) -> CaughtMail:
    """The first email to `address` whose subject starts with `subject`, once it has arrived."""
    async with asyncio.timeout(timeout):
        while True:
            for mail in live.mailbox.to(address):
                if mail.subject.startswith(subject):
                    return mail
            await asyncio.sleep(0.1)


async def consent(page: Page, link: str) -> None:
    await page.goto(link)
    await page.get_by_role("link", name="Start: what we record and why").click()
    await page.get_by_label("I have read this and agree").check()
    await page.get_by_role("button", name="Agree and continue").click()


async def record(page: Page, question_page: str) -> None:
    """A video answer recorded with the (fake) camera and saved."""
    await page.goto(question_page)
    await page.locator("#rec-start").click()  # the question shows and its clock starts
    now = page.locator("#rec-now:visible, #rec-stop:visible")
    await expect(now).to_be_visible(timeout=15_000)
    if await page.locator("#rec-now").is_visible():
        await page.locator("#rec-now").click()  # skip what is left of the time to think
    await expect(page.locator("#rec-stop")).to_be_visible(timeout=15_000)
    await page.wait_for_timeout(2000)
    await page.click("#rec-stop")
    await page.get_by_role("button", name="Save this answer").click()
    await expect(page.locator("#rec-status")).to_contain_text("Saved", timeout=20_000)


async def submit_answers(page: Page, link: str) -> None:
    await page.goto(f"{link}/questions")
    await page.get_by_role("button", name="Submit my answers").click()
    await expect(page.get_by_text("Submitted. Your answers are with the team")).to_be_visible()


async def interview(page: Page, link: str, tmp_path: Path) -> None:
    """Consent, a recorded video, an uploaded design document and a written answer; then submit."""
    await consent(page, link)
    await record(page, f"{link}/questions/incident")
    document = tmp_path / "design.pdf"
    document.write_bytes(PDF)
    await page.goto(f"{link}/questions/design_doc")
    await page.get_by_label("Your file").set_input_files(str(document))
    await page.get_by_role("button", name="Save answer").click()
    await expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    await page.goto(f"{link}/questions/tradeoff")
    await page.get_by_label("Your answer").fill(
        "We chose availability for the cart and consistency for payment."
    )
    await page.get_by_role("button", name="Save answer").click()
    await expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    await submit_answers(page, link)


async def assessment(page: Page, link: str, answers: dict[str, str], navigate: bool = True) -> None:
    """Start the timed assessment, save each answer on its own, then submit."""
    if navigate:
        await page.goto(f"{link}/assessment")
    await page.get_by_role("button", name="Start the assessment").click()
    await expect(page.locator("#assessment-clock")).to_be_visible()
    for question_id, value in answers.items():
        form = page.locator(f"#q-{question_id}")
        choice = form.get_by_role("radio", name=value, exact=True)
        if await choice.count():
            await choice.check()
        else:
            await form.get_by_role("textbox").fill(value)
        await form.get_by_role("button", name="Save answer").click()
        await expect(page.locator(f"#q-{question_id}-saved")).to_have_text(f"Saved: {value}")
    await page.get_by_role("button", name="Submit the assessment").click()
    await expect(page.locator("#assessment-over")).to_contain_text(f"{len(answers)} of {len(answers)}")


async def score(
    browser: Browser, live: Live, email: str, application_id: str, name: str, blind: bool = True
) -> None:
    """A reviewer signs in, scores the application (without learning who it is when the review is
    blind), then sees the others' scores."""
    context, page = await signed_in(browser, live, email)
    await page.goto(f"{live.url}/staff/reviews/{application_id}")
    if blind:
        await expect(page.get_by_text("blind review: no name, email or photo")).to_be_visible()
        assert name not in await page.content()
    for radio in await page.locator('input[type="radio"][value="4"]').all():
        await radio.check()
    await page.get_by_label("Overall recommendation").select_option("yes")
    await page.get_by_role("button", name="Submit scorecard").click()
    await expect(page.locator("#others")).to_be_visible()
    await context.close()


async def approve(
    browser: Browser, live: Live, email: str, application_id: str, reason: str = "hire"
) -> None:
    context, page = await signed_in(browser, live, email)
    await page.goto(f"{live.url}/staff/applications/{application_id}#decision")
    await page.get_by_label("Decision and reason").select_option(reason)
    assert await page.get_by_label("Approver voting").count() == 0, "a directory person votes as themselves"
    await page.get_by_role("button", name="Record decision").click()
    await expect(page.get_by_role("status")).to_contain_text("Decision recorded")
    await context.close()


async def test_a_senior_backend_engineer_is_hired_with_every_step_on_a_page(
    skipping_live: Live, browser: Browser, shots: Shots, tmp_path: Path
) -> None:
    live = skipping_live
    application, link = await live.invite(
        "senior-backend-engineer", "Senior backend engineer", "Grace Hopper"
    )
    application_id = application["id"]
    reviewers = {p: account(live, "reviewer", p) for p in ("kai", "ruth", "lee", "noor")}
    approvers = {p: account(live, "ops", p) for p in ("kai", "ruth")}

    candidate = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = await candidate.new_page()
    await interview(page, link, tmp_path)
    await shots.take(page, "interview-submitted")
    await assessment(page, link, {"big_o": "20", "idempotent": "POST", "isolation": "read committed"})
    await shots.take(page, "assessment-submitted")
    graded = await wait_for(
        live, application_id, lambda d: d["stage"] == "review" and d["review_assignments"]
    )
    assert graded["assessments"][0]["passed"] is True

    # The blind panel: three of the pool's four reviewers, each on their own page.
    panel = await wait_for(
        live,
        application_id,
        lambda d: len([a for a in d["review_assignments"] if a["status"] == "assigned"]) == 3,
    )
    for assignment in panel["review_assignments"]:
        await score(browser, live, reviewers[assignment["reviewer"]], application_id, "Grace Hopper")
    await wait_for(live, application_id, lambda d: d["stage"] == "scheduling")

    # The contact offers two times from the application page; the candidate books one from the page
    # the email links to and downloads the invitation.
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1)
    slots = [soon, soon + timedelta(hours=3)]
    context, staff = await signed_in(browser, live, approvers["ruth"])
    await staff.goto(f"{live.url}/staff/applications/{application_id}#slots")
    await staff.get_by_label("Time zone of these times").fill("UTC")
    for i, slot in enumerate(slots, start=1):
        await staff.locator(f"#slot-{i}").fill(slot.strftime("%Y-%m-%dT%H:%M"))
    await staff.get_by_role("button", name="Offer these slots").click()
    await expect(staff.get_by_role("status")).to_be_visible()
    await shots.take(staff, "slots-offered")
    await context.close()
    offer = await mail_about(live, application["candidate"]["email"], "Choose a time")
    [to_slots] = [u for u in offer.text.split() if u.endswith("/slots")]
    assert to_slots == f"{link}/slots", "the email sends the candidate to the page where they book"
    await page.goto(to_slots)
    local = slots[1].astimezone(ZoneInfo("Europe/Lisbon"))
    await page.get_by_label(local.strftime("%H:%M"), exact=False).check()
    await page.get_by_role("button", name="Book this time").click()
    await expect(page.get_by_text("booked", exact=False).first).to_be_visible()
    await shots.take(page, "slot-booked")
    ics = await live.http.get(f"{link.removeprefix(live.url)}/slot.ics")
    assert ics.status_code == 200
    assert f"DTSTART:{slots[1].strftime('%Y%m%dT%H%M%SZ')}" in ics.text
    await candidate.close()

    # The interview takes place (a day passes); the contact records the references from their email.
    await live.env.sleep(timedelta(days=1, hours=5))
    reference = await mail_about(live, PEOPLE["ruth"].email, "Reference check")
    context, staff = await signed_in(browser, live, approvers["ruth"])
    await staff.goto(reference.text.split("Record the outcome here: ", 1)[1].split()[0])
    outcome = staff.locator("#outcome")
    await outcome.get_by_label("Continue to the next stage").check()
    await outcome.get_by_label("Note (optional, kept with the outcome)").fill("Two references, both warm.")
    await outcome.get_by_role("button", name="Record the outcome").click()
    await expect(staff.get_by_role("status")).to_be_visible()
    await shots.take(staff, "references-recorded")
    await context.close()

    # Two of the three named approvers approve, each as themselves.
    await wait_for(live, application_id, lambda d: d["status"] == "awaiting_decision")
    await approve(browser, live, approvers["kai"], application_id)
    await approve(browser, live, approvers["ruth"], application_id)
    final = await wait_for(live, application_id, lambda d: d["status"] == "approved")
    client = with_codec(live.env.client, live.settings)
    handle = client.get_workflow_handle(f"application-{application_id}")
    state = await handle.query("state", result_type=ApplicationState)
    assert state.votes == {"kai": "approve", "ruth": "approve"}
    await mail_about(live, final["candidate"]["email"], "Good news")
    await live.mailbox.settle()
    assert (
        len([m for m in live.mailbox.to(final["candidate"]["email"]) if m.subject.startswith("Good news")])
        == 1
    )


EDITED = "You explained how you taught yourself SQL with real care. Next summer, bring a project."


async def test_an_intern_is_hired_reads_the_edited_feedback_and_completes_onboarding(
    live: Live, browser: Browser, shots: Shots
) -> None:
    application, link = await live.invite("internship", "Summer intern", "Mary Jackson")
    application_id = application["id"]
    address = application["candidate"]["email"]
    reviewers = {p: account(live, "reviewer", p) for p in ("ana", "jo")}
    recruiter = account(live, "ops", "jo")

    candidate = await browser.new_context(viewport={"width": 360, "height": 800}, locale="en-GB")
    page = await candidate.new_page()
    await consent(page, link)
    await record(page, f"{link}/questions/hello")
    await page.goto(f"{link}/questions/learned")
    await page.get_by_label("Your answer").fill(
        "I taught myself SQL by rebuilding my club's membership list."
    )
    await page.get_by_role("button", name="Save answer").click()
    await expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    await page.goto(f"{link}/questions/field")
    await page.get_by_label("Engineering").check()
    await page.get_by_role("button", name="Save answer").click()
    await expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    await submit_answers(page, link)

    # Both reviewers of the early-careers pool score on their pages (the review is not blind).
    await wait_for(live, application_id, lambda d: len(d["review_assignments"]) == 2)
    for email in reviewers.values():
        await score(browser, live, email, application_id, "Mary Jackson", blind=False)
    await wait_for(live, application_id, lambda d: d["status"] == "awaiting_decision")
    await approve(browser, live, recruiter, application_id, reason="advance")

    # The feedback waits for the recruiter, who rewrites it before releasing it from the page.
    await wait_for(live, application_id, lambda d: d["stage"] == "feedback")
    context, staff = await signed_in(browser, live, recruiter)
    held = staff.locator("#feedback")
    async with asyncio.timeout(30):  # the draft is written by an activity just after the stage starts
        while True:
            await staff.goto(f"{live.url}/staff/applications/{application_id}#feedback")
            if "Held for editing" in await held.inner_text():
                break
            await asyncio.sleep(0.3)
    assert not [m for m in live.mailbox.to(address) if m.subject.startswith("Your feedback")]
    await held.get_by_label("Your edited feedback").fill(EDITED)
    await held.get_by_role("button", name="Release the feedback").click()
    await expect(staff.get_by_role("status")).to_be_visible()
    await shots.take(staff, "feedback-released")
    await context.close()

    feedback = await mail_about(live, address, "Your feedback")
    assert EDITED in feedback.text, "the candidate is sent the recruiter's words, not the draft"
    [to_feedback] = [u for u in feedback.text.split() if u.endswith("/feedback")]
    await page.goto(to_feedback)
    await expect(page.locator("main")).to_contain_text(EDITED)
    await shots.take(page, "feedback-read")

    # Onboarding, from the welcome email's link: every module opened and marked done.
    welcome = await mail_about(live, address, "Welcome aboard")
    [to_onboarding] = [u for u in welcome.text.split() if u.endswith("/onboarding")]
    await page.goto(to_onboarding)
    await expect(page.locator("#progress-text")).to_have_text("0 of 3 done.")
    onboarding: Onboarding = PIPELINES["internship"].first(Onboarding)
    for number, module in enumerate(onboarding.modules, start=1):
        await page.get_by_role("link", name=module.title).click()
        await expect(page.get_by_role("heading", name=module.title)).to_be_visible()
        await page.get_by_role("button", name="Mark as done").click()
        await expect(page.locator("#progress-text")).to_contain_text(f"{number} of 3 done.")
    await expect(page.locator("#progress-text")).to_contain_text("Onboarding is complete")
    await shots.take(page, "onboarding-complete")
    await mail_about(live, address, "You have completed your onboarding")
    final = await detail(live, application_id)
    assert final["status"] == "approved"
    await candidate.close()


async def test_a_support_agent_passes_the_assessment_and_is_hired_from_the_pages(
    live: Live, browser: Browser, shots: Shots
) -> None:
    application, link = await live.invite("support-agent", "Support agent", "Katherine Johnson")
    application_id = application["id"]
    address = application["candidate"]["email"]
    reviewers = {p: account(live, "reviewer", p) for p in ("ana", "lee", "jo")}
    recruiter = account(live, "ops", "ana")

    candidate = await browser.new_context(viewport={"width": 360, "height": 800}, locale="en-GB")
    page = await candidate.new_page()
    await consent(page, link)
    await record(page, f"{link}/questions/angry_customer")
    await page.goto(f"{link}/questions/why_support")
    await page.get_by_role("button", name="Show the question and start the clock").click()
    await page.get_by_label("Your answer").fill("I like untangling a bad day into a good outcome.")
    await page.get_by_role("button", name="Save answer").click()
    await expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    await page.goto(f"{link}/questions/shift")
    await page.get_by_label("Any").check()
    await page.get_by_role("button", name="Save answer").click()
    await expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    await submit_answers(page, link)

    # The overview links the assessment, now the current step; the result is shown (show_result).
    await page.goto(link)
    await page.get_by_role("link", name="Short assessment").first.click()
    await assessment(
        page,
        link,
        {"refund_window": "Yes", "tickets_per_hour": "7", "escalation_team": "Billing", "first_reply": "2"},
        navigate=False,
    )
    await expect(page.locator("#assessment-result")).to_contain_text("passed")
    await shots.take(page, "assessment-passed")

    # The one reviewer the pool assigns scores on their page; middling scores leave the decision to
    # the recruiter (no automatic advance at 4.5 or more).
    assigned = await wait_for(live, application_id, lambda d: len(d["review_assignments"]) == 1)
    reviewer = assigned["review_assignments"][0]["reviewer"]
    await score(browser, live, reviewers[reviewer], application_id, "Katherine Johnson", blind=False)
    await wait_for(live, application_id, lambda d: d["status"] == "awaiting_decision")
    await approve(browser, live, recruiter, application_id, reason="advance")
    final = await wait_for(live, application_id, lambda d: d["status"] == "approved")
    assert final["assessments"][0]["passed"] is True
    await mail_about(live, address, "Good news")
    await page.goto(link)
    await shots.take(page, "overview-approved")
    await candidate.close()
