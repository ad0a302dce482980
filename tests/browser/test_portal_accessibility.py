"""The portal for people who use a keyboard, a screen reader, or a small screen: axe-core's WCAG 2.1 A/AA
rules on every page (and on pages showing errors), and the written-answer flow done with keys only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.actors import STAFF
from tests.support.browser import Live
from tests.support.stages import (
    BOOKING,
    JOINING,
    LONG,
    at_stage,
    interview_answered,
    invite,
    ok,
    to_onboarding,
)

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


async def audit(page: Page, axe_source: str) -> list[dict[str, Any]]:
    await page.add_script_tag(content=axe_source)
    result: dict[str, Any] = await page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    return [
        {
            "page": page.url.split("/c/", 1)[-1][-40:],
            "rule": v["id"],
            "help": v["help"],
            "nodes": len(v["nodes"]),
        }
        for v in result["violations"]
    ]


@pytest.mark.usefixtures("pipelines")
async def test_every_portal_page_passes_wcag_aa_rules(live: Live, browser: Browser, axe_source: str) -> None:
    _, link = await live.invite("portal-visit", "Support engineer")
    # Scripts are injected for the audit only: the portal's own policy allows no inline script.
    context = await browser.new_context(viewport={"width": 360, "height": 740}, bypass_csp=True)
    page = await context.new_page()
    problems: list[dict[str, Any]] = []
    for path in (
        "",
        "/consent",
        "/practice",
        "/questions",
        "/faq",
        "/messages",
        "/extension",
        "/feedback",
        "/privacy",
    ):
        await page.goto(link + path)
        problems += await audit(page, axe_source)

    # Pages as they show errors: the consent box not ticked, an empty written answer.
    await page.goto(link + "/consent")
    await page.get_by_role("button", name="Agree and continue").click()
    await expect(page.locator("#agree-error")).to_be_visible()
    problems += await audit(page, axe_source)
    await page.get_by_label("I have read this and agree").check()
    await page.get_by_role("button", name="Agree and continue").click()
    for question in ("intro", "why", "shift"):
        await page.goto(f"{link}/questions/{question}")
        problems += await audit(page, axe_source)
    await page.goto(f"{link}/questions/why")
    await page.get_by_role("button", name="Save answer").click()
    await expect(page.locator("#answer-error")).to_have_text("Write an answer first.")
    await expect(page.get_by_label("Your answer")).to_have_attribute("aria-invalid", "true")
    problems += await audit(page, axe_source)
    assert problems == []

    # The audit does find problems where there are some (an unlabelled field, an image without text).
    await page.set_content('<html><body><input type="text"><img src="x.png"></body></html>')
    assert {p["rule"] for p in await audit(page, axe_source)} >= {"label", "image-alt"}
    await context.close()


@pytest.mark.usefixtures("stage_pipelines")
async def test_the_later_stages_pages_pass_wcag_aa_rules(
    live: Live, browser: Browser, axe_source: str
) -> None:
    """The assessment, slot booking and onboarding pages at 360 px, in each of their states."""
    context = await browser.new_context(viewport={"width": 360, "height": 740}, bypass_csp=True)
    page = await context.new_page()
    problems: list[dict[str, Any]] = []

    async def audited(url: str | None = None) -> None:
        nonlocal problems
        if url is not None:
            await page.goto(url)
        problems += await audit(page, axe_source)

    # The assessment: before the start, running (with an empty answer refused), submitted.
    assessed = await invite(live, LONG.name, "Assessed role")
    await audited(assessed.link)
    await audited(assessed.link + "/assessment")
    await page.get_by_role("button", name="Start the assessment").click()
    await expect(page.locator("#assessment-clock")).to_contain_text("Time left")
    await audited()
    await page.locator("#q-sum").get_by_role("button", name="Save answer").click()
    await expect(page.locator("#q-sum-error")).to_be_visible()
    await audited()
    await page.get_by_role("button", name="Submit the assessment").click()
    await expect(page.get_by_role("heading", name="Assessment submitted")).to_be_visible()
    await audited()

    # Slot booking: waiting for times, times offered (none chosen is refused), booked.
    booking = await invite(live, BOOKING.name, "Booked role")
    await interview_answered(live, booking, BOOKING)
    await at_stage(live, booking, "scheduling")
    await audited(booking.link + "/slots")
    slot = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    await ok(live.http.post(f"{booking.staff_api}/slots", json={"slots": [slot.isoformat()]}, headers=STAFF))
    await audited(booking.link + "/slots")
    await page.get_by_role("button", name="Book this time").click()
    await expect(page.locator("#slot-error")).to_contain_text("Choose one of the times")
    await audited()
    await page.get_by_role("radio").check()
    await page.get_by_role("button", name="Book this time").click()
    await expect(page.locator("#booking")).to_be_visible()
    await audited()
    await audited(booking.link)

    # Onboarding: the modules, one module's page.
    joining = await invite(live, JOINING.name, "Joining role")
    await to_onboarding(live, joining, JOINING)
    await audited(joining.link)
    await audited(joining.link + "/onboarding")
    await audited(joining.link + "/onboarding/hello")
    assert problems == []
    await context.close()


async def tab_to(page: Page, name: str, limit: int = 40) -> None:
    """Press Tab until the element with this accessible name (or label) has the focus."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            """() => {
                const el = document.activeElement;
                const label = el.labels && el.labels.length ? el.labels[0].textContent : "";
                return (el.getAttribute("aria-label") || label || el.textContent || "").trim();
            }"""
        )
        if focused.startswith(name):
            outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"no visible focus on {name!r}"
            return
    raise AssertionError(f"{name!r} cannot be reached with the Tab key")


@pytest.mark.usefixtures("pipelines")
async def test_a_written_answer_with_the_keyboard_only(live: Live, browser: Browser) -> None:
    _, link = await live.invite("portal-visit", "Support engineer")
    context = await browser.new_context(viewport={"width": 1024, "height": 768})
    page = await context.new_page()
    await page.goto(link + "/questions")
    await tab_to(page, "Question 2")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Question 2")).to_be_visible()
    await tab_to(page, "Your answer")
    await page.keyboard.type("Because I like to make things work for people.")
    await tab_to(page, "Save answer")
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    token = link.rsplit("/c/", 1)[1]
    view = (await live.http.get(f"/api/v1/candidate/{token}")).json()
    assert view["questions"][1]["answer_text"] == "Because I like to make things work for people."
    await context.close()


@pytest.mark.usefixtures("stage_pipelines")
async def test_an_assessment_with_the_keyboard_only(live: Live, browser: Browser) -> None:
    applicant = await invite(live, LONG.name, "Assessed role")
    context = await browser.new_context(viewport={"width": 1024, "height": 768})
    page = await context.new_page()
    await page.goto(applicant.link + "/assessment")
    await tab_to(page, "Start the assessment")
    await page.keyboard.press("Enter")
    await expect(page.locator("#assessment-clock")).to_contain_text("Time left")
    await tab_to(page, "Lisbon")
    await page.keyboard.press("Space")
    await tab_to(page, "Save answer")
    await page.keyboard.press("Enter")
    await expect(page.locator("#q-capital-saved")).to_have_text("Saved: Lisbon")
    await tab_to(page, "What is 6 times 7?")
    await page.keyboard.type("42")
    await page.keyboard.press("Enter")
    await expect(page.locator("#q-sum-saved")).to_have_text("Saved: 42")
    await tab_to(page, "Submit the assessment")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Assessment submitted")).to_be_visible()
    await context.close()
