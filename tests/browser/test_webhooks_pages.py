"""The webhooks pages in Chromium against the real stack (uvicorn, a worker on the Temporal dev
server): ops register an endpoint through the form on a receiver listening on loopback and see its
secret once; a candidate's invitation arrives signed with that secret and shows as delivered; a
receiver answering 500 shows a retrying delivery, and the Retry button delivers it; the secret is
rotated, the endpoint disabled, enabled, changed and deleted through the forms. A bad URL is refused
next to the field with nothing registered, an unknown endpoint is a 404 page, and recruiters are
refused. Both pages pass axe's WCAG 2.1 AA rules on a desktop and a 360 px phone."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.async_api import Browser, Page, ViewportSize, expect
from sqlmodel import Session, col, select

from offhours.models import WebhookEndpoint
from offhours.settings import Settings
from tests.browser.test_staff_console import PASSWORD, account, no_violations, until
from tests.support.actors import STAFF
from tests.support.browser import Live, Shots
from tests.support.mail import Mailbox, smtp_port
from tests.support.receiver import Receiver, Reply, running_receiver
from tests.support.stack import settings_for
from workers import dispatch_webhooks

DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=360, height=800)


@pytest.fixture
def settings(tmp_path: Path, smtp_server: tuple[Controller, Mailbox]) -> Settings:
    """The product served to the browser, allowed to deliver to a receiver on loopback over http."""
    return settings_for(tmp_path, smtp_port(smtp_server[0])).model_copy(
        update={"WEBHOOK_ALLOW_PRIVATE": True}
    )


@pytest.fixture
async def receiver(live: Live) -> AsyncIterator[Receiver]:
    """A receiver on loopback, and the worker's webhook dispatcher (which the browser stack's
    worker does not run: the worker process runs it beside the Temporal worker, workers.py)."""
    stop = asyncio.Event()
    dispatching = asyncio.create_task(dispatch_webhooks(live.env.client, live.settings, stop, live.engine))
    try:
        async with running_receiver() as r:
            yield r
    finally:
        stop.set()
        await dispatching


async def sign_in(browser: Browser, live: Live, email: str) -> Page:
    context = await browser.new_context(viewport=DESKTOP, bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{live.url}/staff/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name=re.compile("Sign out"))).to_be_visible()
    return page


def endpoints(live: Live) -> list[WebhookEndpoint]:
    with Session(live.engine) as session:
        return list(session.exec(select(WebhookEndpoint).where(col(WebhookEndpoint.deleted_at).is_(None))))


async def row_shows(page: Page, status: str, count: int = 1) -> None:
    """Reload the endpoint's page until `count` deliveries have `status`."""

    async def shown() -> bool:
        await page.reload()
        return await page.locator(f"#delivery-table tr.delivery.{status}").count() == count

    await until(shown, timeout=20)


async def audited_on_a_phone(page: Page, axe_source: str, shots: Shots, name: str) -> None:
    await page.set_viewport_size(PHONE)
    await no_violations(page, axe_source)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a 360px phone"
    await shots.take(page, f"{name}-phone")
    await page.set_viewport_size(DESKTOP)


async def test_ops_register_an_endpoint_see_it_delivered_and_retry_a_failed_delivery(
    live: Live, browser: Browser, shots: Shots, axe_source: str, receiver: Receiver
) -> None:
    _, email, _ = account(live, "ops")
    page = await sign_in(browser, live, email)
    await page.get_by_role("link", name="Webhooks").click()
    await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    await expect(page.get_by_text("No endpoint yet")).to_be_visible()

    # Registered through the form: the secret is shown on the page that answers, once.
    await page.get_by_label("URL").fill(receiver.url)
    await page.get_by_label("Description (optional)").fill("ATS sync")
    await page.get_by_label("application.created").check()
    await page.get_by_role("button", name="Register the endpoint").click()
    await expect(page.get_by_role("heading", name=re.compile("Copy the signing secret now"))).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("The endpoint is registered")
    secret = await page.get_by_role("textbox", name="Signing secret").input_value()
    assert secret.startswith("whsec_")
    [endpoint] = endpoints(live)
    assert endpoint.url == receiver.url
    assert endpoint.events == ["application.created"]
    assert endpoint.description == "ATS sync"
    await shots.take(page, "registered-secret-once")
    endpoint_url = f"{live.url}/staff/webhooks/{endpoint.id}"
    await page.goto(endpoint_url)
    assert secret not in await page.content()
    await expect(page.get_by_role("textbox", name="Signing secret")).to_have_count(0)

    # A candidate invited: the event arrives signed with that secret, and shows as delivered.
    await live.invite("standard", "Support engineer")
    [first] = await receiver.wait_for(1)
    assert receiver.verified(secret)[0]["type"] == "application.created"
    await row_shows(page, "delivered")
    row = page.locator("#delivery-table tr.delivery").first
    await expect(row.get_by_role("rowheader")).to_have_text("application.created")
    await expect(row).to_contain_text(first.id)  # the webhook-id
    await expect(row).to_contain_text("HTTP 200")
    await expect(row).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))
    await expect(row.get_by_role("button", name=re.compile("Retry"))).to_have_count(0)
    await expect(page.locator("#fact-counts")).to_have_text("1 delivered")

    # The receiver failing: a retrying delivery with its 500, and Retry delivers it now.
    receiver.default = Reply(status=500)
    await live.invite("standard", "Support engineer")
    await receiver.wait_for(2)
    await row_shows(page, "retrying")
    failing = page.locator("#delivery-table tr.delivery.retrying")
    await expect(failing).to_contain_text("HTTP 500")
    await expect(page.locator("#fact-failing")).to_contain_text("UTC")
    await no_violations(page, axe_source)
    await shots.take(page, "retrying")
    await audited_on_a_phone(page, axe_source, shots, "endpoint")
    receiver.default = Reply()
    await failing.get_by_role("button", name=re.compile("Retry")).click()
    await expect(page.get_by_role("status")).to_contain_text("Attempting the delivery now")
    await row_shows(page, "delivered", 2)
    await expect(page.get_by_role("button", name=re.compile("^Retry"))).to_have_count(0)
    await expect(page.locator("#fact-failing")).to_have_text("not failing")

    # The secret rotated: a new one shown once, the previous one signing for the overlap.
    await page.get_by_role("button", name="Rotate the secret").click()
    rotated = await page.get_by_role("textbox", name="Signing secret").input_value()
    assert rotated.startswith("whsec_")
    assert rotated != secret
    await expect(page.locator("#overlap")).to_contain_text("24 h")
    await no_violations(page, axe_source)

    # Disabled and enabled again.
    await page.goto(endpoint_url)
    await page.get_by_role("button", name="Disable the endpoint").click()
    await expect(page.get_by_role("status")).to_contain_text("The endpoint is disabled")
    await expect(page.locator("#fact-state")).to_contain_text("Disabled since")
    await expect(page.locator("#fact-state")).to_contain_text("disabled by ops")
    await page.get_by_role("button", name="Enable the endpoint").click()
    await expect(page.locator("#fact-state")).to_have_text("Enabled")

    # The list shows the endpoint, its state and its deliveries; it passes axe on both sizes.
    await page.get_by_role("link", name="← Webhooks").click()
    item = page.locator(f"#endpoint-{endpoint.id}")
    await expect(item.get_by_role("link", name=receiver.url)).to_be_visible()
    await expect(item.locator(".counts")).to_have_text("2 delivered")
    await expect(item.locator(".state")).to_have_text("Enabled")
    await no_violations(page, axe_source)
    await shots.take(page, "list")
    await audited_on_a_phone(page, axe_source, shots, "list")
    await page.context.close()


async def test_bad_forms_are_refused_unknown_endpoints_are_404_and_recruiters_403(
    live: Live, browser: Browser, shots: Shots, axe_source: str, receiver: Receiver
) -> None:
    _, ops_email, _ = account(live, "ops")
    _, recruiter_email, recruiter = account(live, "recruiter", "ana")
    page = await sign_in(browser, live, ops_email)
    await page.goto(f"{live.url}/staff/webhooks")

    # ftp:// is refused next to the field, the form keeps what was typed, nothing is registered.
    await page.get_by_label("URL").fill("ftp://example.org/hooks")
    await page.get_by_label("decision.made").check()
    async with page.expect_response(f"{live.url}/staff/webhooks") as answer:
        await page.get_by_role("button", name="Register the endpoint").click()
    assert (await answer.value).status == 422
    await expect(page.locator("#new-url-error")).to_contain_text("http")
    await expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("URL")).to_have_value("ftp://example.org/hooks")
    await expect(page.get_by_label("decision.made")).to_be_checked()
    await expect(page.get_by_role("alert")).to_contain_text("not registered")
    assert endpoints(live) == []
    await no_violations(page, axe_source)
    await shots.take(page, "bad-url")

    # No event chosen: refused too.
    await page.get_by_label("URL").fill(receiver.url)
    await page.get_by_label("decision.made").uncheck()
    await page.get_by_role("button", name="Register the endpoint").click()
    await expect(page.locator("#new-events-error")).to_contain_text("Choose at least one event type")
    assert endpoints(live) == []

    # Changed through the form: no event is refused; events and description saved.
    created = await live.http.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["decision.made"], "description": "Slack"},
        headers=STAFF,
    )
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    await page.goto(f"{live.url}/staff/webhooks/{endpoint_id}")
    await expect(page.locator("#no-deliveries")).to_be_visible()
    edit = page.locator("#edit")
    await edit.get_by_label("decision.made").uncheck()
    await edit.get_by_role("button", name="Save the changes").click()
    await expect(page.locator("#edit-events-error")).to_contain_text("Choose at least one event type")
    await edit.get_by_label("application.submitted").check()
    await edit.get_by_label("application.closed").check()
    await edit.get_by_label("Description (optional)").fill("Slack #hiring")
    await edit.get_by_role("button", name="Save the changes").click()
    await expect(page.get_by_role("status")).to_contain_text("The changes are saved")
    await expect(page.locator("#fact-events")).to_have_text("application.submitted, application.closed")
    await expect(page.locator("#fact-description")).to_have_text("Slack #hiring")

    # Deleted once confirmed: gone from the list, its page a 404.
    await page.get_by_role("button", name="Delete the endpoint").click()
    await expect(page.locator("#delete-confirm-error")).to_contain_text("Tick the box")
    await page.get_by_label("Yes, delete this endpoint").check()
    await page.get_by_role("button", name="Delete the endpoint").click()
    await expect(page.get_by_role("status")).to_contain_text("The endpoint is deleted")
    await expect(page.get_by_text("No endpoint yet")).to_be_visible()
    missing = await page.goto(f"{live.url}/staff/webhooks/{endpoint_id}")
    assert missing is not None
    assert missing.status == 404
    await expect(page.get_by_role("alert")).to_contain_text(f"webhook endpoint '{endpoint_id}' not found")
    unknown = await page.goto(f"{live.url}/staff/webhooks/wh_unknown")
    assert unknown is not None
    assert unknown.status == 404
    await page.context.close()

    # Recruiters neither see the link nor open the pages.
    async with httpx.AsyncClient(base_url=live.url) as http:
        assert (await http.get("/staff/webhooks", headers=recruiter)).status_code == 403
    page = await sign_in(browser, live, recruiter_email)
    await expect(page.get_by_role("link", name="Webhooks")).to_have_count(0)
    refused = await page.goto(f"{live.url}/staff/webhooks")
    assert refused is not None
    assert refused.status == 403
    await expect(page.get_by_role("heading", name="This cannot be done")).to_be_visible()
    await page.context.close()
