"""The portal's later stages in Chromium, from the link in the real invitation email: the timed
assessment (passed, failed and closed, ended by its clock), booking a live interview's time with
its calendar file, and onboarding's modules; then the refusals, with plain HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from api.pages.stages import OTHER_TIMES
from pipelines.registry import PIPELINES
from pipelines.stages import Onboarding
from tests.support.actors import STAFF
from tests.support.browser import Live, Shots
from tests.support.stages import (
    JOINING,
    Applicant,
    at_stage,
    csrf_of,
    interview_answered,
    invite,
    mails_with_key,
    ok,
    reload_until,
    state,
    to_onboarding,
    until,
)

PHONE_WIDTH = 360
SUPPORT = PIPELINES["support-agent"]
RIGHT = {"refund_window": "Yes", "tickets_per_hour": "7", "escalation_team": "Billing", "first_reply": "2"}
WRONG = {"refund_window": "No", "tickets_per_hour": "6", "escalation_team": "sales", "first_reply": "9"}


async def phone(browser: Browser) -> BrowserContext:
    return await browser.new_context(viewport={"width": PHONE_WIDTH, "height": 740}, locale="en-GB")


async def fits(page: Page) -> None:
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE_WIDTH, f"{page.url} is {scroll_width}px wide on a {PHONE_WIDTH}px screen"


async def at_assessment(live: Live) -> Applicant:
    applicant = await invite(live, "support-agent", "Support agent")
    await interview_answered(live, applicant, SUPPORT)
    await at_stage(live, applicant, "assessment")
    return applicant


async def answer(page: Page, question_id: str, value: str, choice: bool = False) -> None:
    form = page.locator(f"#q-{question_id}")
    if choice:
        await form.get_by_label(value, exact=True).check()
    else:
        await form.get_by_role("textbox").fill(value)
    await form.get_by_role("button", name="Save answer").click()
    await expect(page.locator(f"#q-{question_id}-saved")).to_have_text(f"Saved: {value}")


async def answer_all(page: Page, values: dict[str, str]) -> None:
    for question_id, value in values.items():
        await answer(page, question_id, value, choice=question_id == "refund_window")


async def test_the_support_assessment_passed_from_the_page(
    live: Live, browser: Browser, shots: Shots
) -> None:
    applicant = await at_assessment(live)
    context = await phone(browser)
    page = await context.new_page()
    await page.goto(applicant.link)
    await page.get_by_role("link", name="Short assessment").first.click()
    await expect(page.get_by_role("heading", name="Short assessment", exact=True)).to_be_visible()
    await expect(page.locator("dl.facts")).to_contain_text("4")
    await expect(page.locator("dl.facts")).to_contain_text("20 minutes")
    await shots.take(page, "before-start")
    await page.get_by_role("button", name="Start the assessment").click()
    await expect(page.locator("#assessment-clock")).to_contain_text("Time left: 19:")
    ends = await page.locator("#assessment-ends").inner_text()
    data_ends = await page.locator("#assessment-clock").get_attribute("data-ends")
    assert "(Europe/Lisbon)" in ends

    # Saved one by one, each form sending the candidate on to the next question.
    await answer(page, "refund_window", "Yes", choice=True)
    assert page.url.endswith("#q-tickets_per_hour")
    await answer(page, "tickets_per_hour", "7")
    await page.reload()
    assert await page.locator("#assessment-ends").inner_text() == ends
    await expect(page.locator("#q-refund_window-saved")).to_have_text("Saved: Yes")
    await expect(page.locator("#q-refund_window").get_by_label("Yes", exact=True)).to_be_checked()

    # Another device shows the same end time and the same saved answers.
    other = await browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-GB")
    second = await other.new_page()
    await second.goto(applicant.link + "/assessment")
    assert await second.locator("#assessment-ends").inner_text() == ends
    assert await second.locator("#assessment-clock").get_attribute("data-ends") == data_ends
    await expect(second.locator("#q-tickets_per_hour-saved")).to_have_text("Saved: 7")
    await other.close()

    await answer(page, "escalation_team", "Billing")
    await answer(page, "first_reply", "2")
    await fits(page)
    await shots.take(page, "answered")
    await page.get_by_role("button", name="Submit the assessment").click()
    await expect(page.get_by_role("heading", name="Assessment submitted")).to_be_visible()
    await expect(page.locator("#assessment-over")).to_contain_text("4 of 4 answers")
    await expect(page.locator("#assessment-result")).to_contain_text("100%")
    await expect(page.locator("#assessment-result")).to_contain_text("passed")
    assert await page.locator("form").count() == 0
    await shots.take(page, "passed")
    assert (await state(live, applicant)).assessment_passed is True
    await context.close()


async def test_a_failed_assessment_closes_the_application_and_says_so(
    live: Live, browser: Browser, shots: Shots
) -> None:
    applicant = await at_assessment(live)
    context = await phone(browser)
    page = await context.new_page()
    await page.goto(applicant.link + "/assessment")
    await page.get_by_role("button", name="Start the assessment").click()
    await answer_all(page, WRONG)
    await page.get_by_role("button", name="Submit the assessment").click()
    await reload_until(page, "#closed")
    await expect(page.locator("#closed")).to_contain_text("below the pass mark of 75%")
    await expect(page.locator("#assessment-result")).to_contain_text("not passed")
    await shots.take(page, "failed")
    await page.goto(applicant.link)
    await expect(page.locator("#closed-reason")).to_contain_text("below the pass mark")
    await expect(page.get_by_text("closed: not successful this time")).to_be_visible()
    # The review and the decision never happened: the process says so rather than "done".
    await expect(page.locator("ol.process li.skipped")).to_have_count(2)
    await expect(page.locator("ol.process li.skipped").first).to_contain_text("not reached")
    await fits(page)
    await shots.take(page, "overview-closed")
    await until(lambda: _has_mail(live, applicant, "assessment-failed"), "the assessment_failed email")
    await context.close()


async def _has_mail(live: Live, applicant: Applicant, key: str) -> bool:
    return len(mails_with_key(live, applicant, key)) == 1


@pytest.mark.usefixtures("stage_pipelines")
async def test_the_workflow_ends_an_assessment_when_its_time_is_up(
    live: Live, browser: Browser, shots: Shots
) -> None:
    applicant = await invite(live, "portal-quick-assessment", "Quick role")
    context = await phone(browser)
    page = await context.new_page()
    await page.goto(applicant.link + "/assessment")
    await page.get_by_role("button", name="Start the assessment").click()
    await answer(page, "capital", "Lisbon", choice=True)
    # The page's clock only shows the time; the workflow's timer ends the assessment, unsubmitted.
    await expect(page.locator("#assessment-clock")).to_have_text(
        "Time is up: reload the page to see what was saved.", timeout=20_000
    )
    await reload_until(page, "#assessment-over")
    await expect(page.get_by_role("heading", name="Time is up")).to_be_visible()
    await expect(page.locator("#assessment-over")).to_contain_text("1 of 2 answers were saved")
    await expect(page.locator("#assessment-result")).to_contain_text("50%")
    assert await page.locator("form").count() == 0
    await shots.take(page, "time-up")
    moved_on = await state(live, applicant)
    assert moved_on.stage == "review"
    assert moved_on.status in ("submitted", "in_review")
    await context.close()


async def confirmed_once_with(live: Live, applicant: Applicant, ics: str) -> None:
    """The confirmation email arrived once, and its calendar attachment is the downloaded event
    (but for DTSTAMP, the moment each was made)."""
    await until(lambda: _has_mail(live, applicant, "slot-confirmed-scheduling"), "the slot_confirmed email")
    [confirmation] = mails_with_key(live, applicant, "slot-confirmed-scheduling")
    [attached] = [
        p for p in confirmation.message.iter_attachments() if p.get_content_type() == "text/calendar"
    ]
    sent = attached.get_content()
    sent_text = sent.decode() if isinstance(sent, bytes) else str(sent)

    def same(event: str) -> list[str]:
        return [line for line in event.replace("\r\n ", "").splitlines() if not line.startswith("DTSTAMP")]

    assert same(ics) == same(sent_text)


@pytest.mark.usefixtures("stage_pipelines")
async def test_a_slot_booked_from_the_page_with_its_calendar_file(
    live: Live, browser: Browser, shots: Shots
) -> None:
    applicant = await invite(live, "portal-booking", "Booked role")
    await interview_answered(live, applicant, PIPELINES["portal-booking"])
    await at_stage(live, applicant, "scheduling")
    context = await phone(browser)
    page = await context.new_page()
    await page.goto(applicant.link)
    await page.get_by_role("link", name="Call with the team").first.click()
    await expect(page.get_by_text("The team will offer you times")).to_be_visible()

    day = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    offered = [day, day + timedelta(hours=5, minutes=30)]
    body = {"slots": [s.isoformat() for s in offered]}
    await ok(live.http.post(f"{applicant.staff_api}/slots", json=body, headers=STAFF))
    await page.reload()
    # Shown in the candidate's zone (Lisbon: UTC+0 in winter, +1 in summer), as radio buttons.
    lisbon = ZoneInfo("Europe/Lisbon")
    later = offered[1].astimezone(lisbon)
    label = later.strftime("%A %d %B %Y, %H:%M (Europe/Lisbon)")
    await expect(page.get_by_label(label)).to_be_visible()
    await fits(page)
    await shots.take(page, "offered")

    # A second tab, opened before booking, keeps the old choice; its draft link asks for other times.
    stale = await context.new_page()
    await stale.goto(applicant.link + "/slots")
    await stale.get_by_role("link", name="None of these times suit me").click()
    await expect(stale.get_by_label("Your question")).to_have_value(OTHER_TIMES)
    await stale.go_back()

    await page.get_by_label(label).check()
    await page.get_by_role("button", name="Book this time").click()
    await expect(page.get_by_text("Booked. The confirmation is on its way")).to_be_visible()
    await expect(page.locator("#booking")).to_contain_text(label)
    await expect(page.locator("#booking")).to_contain_text("30 minutes")
    await expect(page.locator("#booking")).to_contain_text("Video call, link by email")
    await shots.take(page, "booked")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Add to my calendar (.ics)").click()
    ics = (await (await download.value).path()).read_text()
    assert f"DTSTART:{offered[1].strftime('%Y%m%dT%H%M%SZ')}" in ics

    await confirmed_once_with(live, applicant, ics)

    # The stale tab's pick is refused by the workflow: a clear 409 page, not a 500.
    await stale.get_by_label(day.astimezone(lisbon).strftime("%A %d %B %Y, %H:%M (Europe/Lisbon)")).check()
    async with stale.expect_response(lambda r: r.request.method == "POST") as refused:
        await stale.get_by_role("button", name="Book this time").click()
    assert (await refused.value).status == 409
    await expect(stale.locator("#slot-error")).to_contain_text("a slot is already booked")
    await shots.take(stale, "stale-pick")
    await live.mailbox.settle(0.5)
    assert len(mails_with_key(live, applicant, "slot-confirmed-scheduling")) == 1
    await context.close()


async def test_internship_onboarding_done_from_the_pages(live: Live, browser: Browser, shots: Shots) -> None:
    applicant = await invite(live, "internship", "Summer intern")
    await to_onboarding(live, applicant, PIPELINES["internship"])
    context = await phone(browser)
    page = await context.new_page()
    await page.goto(applicant.link)
    await page.get_by_role("link", name="Onboarding").first.click()
    await expect(page.locator("#progress-text")).to_have_text("0 of 3 done.")
    await expect(page.get_by_text("Due ").first).to_be_visible()
    await fits(page)
    await shots.take(page, "onboarding")
    onboarding: Onboarding = PIPELINES["internship"].first(Onboarding)
    modules = onboarding.modules
    for number, module in enumerate(modules, start=1):
        await page.get_by_role("link", name=module.title).click()
        await expect(page.get_by_role("heading", name=module.title)).to_be_visible()
        await expect(page.locator("main")).to_contain_text(module.content.split("\n")[0][:40])
        if number == 1:
            await fits(page)
            await shots.take(page, "module")
        await page.get_by_role("button", name="Mark as done").click()
        await expect(page.locator("#progress-text")).to_contain_text(f"{number} of 3 done.")
    await expect(page.locator("#progress-text")).to_contain_text("Onboarding is complete")
    await shots.take(page, "complete")
    await until(lambda: _has_mail(live, applicant, "onboarding-complete-onboarding"), "onboarding_complete")
    await context.close()


@pytest.mark.usefixtures("stage_pipelines")
async def test_refusals_are_pages_with_their_status(live: Live) -> None:
    applicant = await invite(live, "portal-long-assessment", "Long role")
    await at_stage(live, applicant, "assessment")  # as the workflow has it: the page follows it
    async with httpx.AsyncClient(base_url=live.url) as http:
        page = await http.get(f"/c/{applicant.token}/assessment")
        assert page.status_code == 200
        assert f'action="/c/{applicant.token}/assessment/start"' in page.text, "open, not 'upcoming'"
        token = csrf_of(page.text)
        base = f"/c/{applicant.token}"
        assert (await http.post(f"{base}/assessment/start", data={})).status_code == 403
        started = await http.post(f"{base}/assessment/start", data={"csrf_token": token})
        assert started.status_code == 303, started.text
        # Without JavaScript, the end time shows in the candidate's time zone.
        running = await http.get(f"{base}/assessment")
        assert 'id="assessment-ends"' in running.text
        assert "(Europe/Lisbon)" in running.text
        again = await http.post(f"{base}/assessment/start", data={"csrf_token": token})
        assert again.status_code == 409
        assert "already been started" in again.text
        unknown = await http.post(
            f"{base}/assessment/answers", data={"csrf_token": token, "question_id": "nope", "value": "1"}
        )
        assert unknown.status_code == 422
        assert "unknown question_id" in unknown.text
        empty = await http.post(
            f"{base}/assessment/answers", data={"csrf_token": token, "question_id": "sum", "value": " "}
        )
        assert empty.status_code == 422
        assert 'id="q-sum-error"' in empty.text
        saved = await http.post(
            f"{base}/assessment/answers", data={"csrf_token": token, "question_id": "sum", "value": "42"}
        )
        assert saved.status_code == 303
        assert saved.headers["location"].endswith("/assessment?done=answer#submit")
        assert (await http.get(f"{base}/slots")).status_code == 404
        assert (await http.get(f"{base}/slot.ics")).status_code == 404
        assert (await http.get(f"{base}/onboarding")).status_code == 404

    # Onboarding's refusals: a module marked done twice, an unknown module.
    joining = await invite(live, JOINING.name, "Joining role")
    await to_onboarding(live, joining, JOINING)
    async with httpx.AsyncClient(base_url=live.url) as http:
        base = f"/c/{joining.token}"
        token = csrf_of((await http.get(f"{base}/onboarding/hello")).text)
        assert (await http.post(f"{base}/onboarding/hello", data={"csrf_token": token})).status_code == 303
        twice = await http.post(f"{base}/onboarding/hello", data={"csrf_token": token})
        assert twice.status_code == 409
        assert "already complete" in twice.text
        unknown = await http.post(f"{base}/onboarding/nope", data={"csrf_token": token})
        assert unknown.status_code == 422
        assert (await http.get(f"{base}/onboarding/nope")).status_code == 404
