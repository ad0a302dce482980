"""The analytics dashboard in Chromium against the real stack: ops filter by job, every chart is drawn
(server SVG, visible, with its table beside it), the page passes axe's WCAG 2.1 AA rules on a desktop
and a phone, and the CSV downloads work from the signed-in session. The candidate's voluntary
self-identification form, after submission, passes axe too. Screenshots are kept."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from tests.browser.test_staff_console import PASSWORD, account, no_violations
from tests.support.analytics import Population, seed_decisions, seed_journeys
from tests.support.browser import Live, Shots

CHARTS = ("funnel", "stages", "questions", "reminders", "reviewers", "agreement", "impact")


async def test_the_dashboard_draws_every_chart_and_passes_axe(
    live: Live, browser: Browser, shots: Shots, axe_source: str
) -> None:
    population = Population(live.engine, live.settings)
    journeys, decisions = population.job("Support engineer"), population.job("Data analyst")
    seed_journeys(population, journeys)
    seed_decisions(population, decisions)
    _, email, _ = account(live, "ops")
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{live.url}/staff/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name=re.compile("Sign out"))).to_be_visible()

    await page.get_by_role("link", name="Analytics").click()
    await expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    await page.get_by_label("Job").select_option(label="Support engineer")
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(rf"job_id={journeys}"))
    for chart in CHARTS:
        svg = page.locator(f"svg[aria-labelledby='chart-{chart}-title chart-{chart}-desc']")
        await expect(svg).to_be_visible()
        box = await svg.bounding_box()
        assert box is not None
        assert box["width"] > 200
        assert box["height"] > 40
    assert await page.locator("svg[role=img]").count() >= len(CHARTS) + 3  # and the score histograms
    funnel_table = page.get_by_role("table", name="Funnel")
    await expect(funnel_table.get_by_role("row", name=re.compile(r"count invited 10"))).to_be_visible()
    await expect(page.get_by_role("table", name="Stages")).to_be_visible()
    await no_violations(page, axe_source)
    await shots.take(page, "dashboard-one-job")

    # A CSV download from the signed-in session: the same table
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download funnel as CSV").click()
    download = await download_info.value
    path = await download.path()
    assert path is not None
    assert "count,invited,10" in path.read_text()

    # Adverse impact on the job with self-identified candidates: a small group is not shown
    await page.goto(f"{live.url}/staff/analytics?job_id={decisions}")
    impact = page.get_by_role("table", name="Adverse impact")
    await expect(
        impact.get_by_role("row", name=re.compile(r"decision race_ethnicity asian fewer than 5"))
    ).to_be_visible()
    await expect(page.locator("svg[aria-labelledby='chart-impact-title chart-impact-desc']")).to_contain_text(
        "(flagged)"
    )
    await no_violations(page, axe_source)
    await shots.take(page, "dashboard-adverse-impact")

    await page.set_viewport_size({"width": 360, "height": 800})
    await page.goto(f"{live.url}/staff/analytics?job_id={journeys}")
    await expect(page.locator("svg[role=img]").first).to_be_visible()
    await no_violations(page, axe_source)
    await shots.take(page, "dashboard-phone")
    await context.close()


async def test_the_self_identification_form_after_submission(
    live: Live, browser: Browser, shots: Shots, axe_source: str
) -> None:
    _, link = await live.invite("standard", "Support engineer")
    token = link.rsplit("/c/", 1)[1].split("/")[0].split("?")[0]
    for question_id in ("motivation", "experience"):
        answered = await live.http.post(
            f"/api/v1/candidate/{token}/answers", json={"question_id": question_id, "text": "An answer."}
        )
        assert answered.status_code == 200, answered.text
    submitted = await live.http.post(f"/api/v1/candidate/{token}/submit")
    assert submitted.status_code == 200, submitted.text
    context = await browser.new_context(viewport={"width": 360, "height": 800}, bypass_csp=True)
    page = await context.new_page()
    await page.goto(link)
    await page.get_by_role("link", name=re.compile("help us check that our process is fair")).click()
    await expect(page.get_by_role("heading", name="Help us check that our process is fair")).to_be_visible()
    await no_violations(page, axe_source)
    await shots.take(page, "self-identification")
    await page.get_by_label("Female").check()
    await page.get_by_label("Asian").check()
    await page.get_by_role("button", name="Save my answer").click()
    await expect(page.get_by_role("status")).to_contain_text("kept apart from your application")
    again = await live.http.get(f"/c/{token}/self-identification")
    assert 'value="asian" checked' in again.text
    await context.close()
