"""A candidate's whole visit, in Chromium with a fake camera: the link from the invite email, consent,
practice, a recorded answer and its retake, written and multiple-choice answers, leaving, resuming
on another device, submitting; then the hiring team plays the stored recording back."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from offhours.media import inspect_upload
from tests.support.actors import STAFF
from tests.support.browser import Live, Shots
from tests.support.samples import PDF, webm


async def candidate_view(live: Live, link: str) -> dict[str, Any]:
    token = link.rsplit("/c/", 1)[1]
    response = await live.http.get(f"/api/v1/candidate/{token}")
    assert response.status_code == 200
    return dict(response.json())


async def fits(page: Page, width: int) -> None:
    """Nothing on the page is wider than the screen: no sideways scrolling on a phone."""
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width}px wide on a {width}px screen"


async def record(page: Page, seconds: float) -> None:
    await expect(page.locator("#rec-stop")).to_be_visible(timeout=15_000)
    await page.wait_for_timeout(seconds * 1000)
    await page.click("#rec-stop")
    await expect(page.locator("#rec-preview")).to_be_visible()


async def new_context(browser: Browser, width: int = 1280, height: int = 800) -> BrowserContext:
    return await browser.new_context(viewport={"width": width, "height": height}, locale="en-GB")


@pytest.mark.usefixtures("pipelines")
async def test_a_candidate_records_retakes_answers_leaves_resumes_and_submits(
    live: Live, browser: Browser, shots: Shots
) -> None:
    application, link = await live.invite("portal-visit", "Support engineer", name="Grace Hopper")

    # First device: the link from the email opens the overview.
    laptop = await new_context(browser)
    page = await laptop.new_page()
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Hello Grace Hopper")).to_be_visible()
    await expect(page.get_by_text("Times are in your time zone, Europe/Lisbon.")).to_be_visible()
    await expect(page.get_by_text("Ana Lima", exact=True)).to_be_visible()
    await shots.take(page, "overview")

    # Consent comes before any recording; not ticking the box is refused, next to the box.
    await page.get_by_role("link", name="Start: what we record and why").click()
    await expect(page.get_by_role("heading", name="What is recorded")).to_be_visible()
    await page.get_by_role("button", name="Agree and continue").click()
    await expect(page.locator("#agree")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#agree-error")).to_contain_text("Tick the box")
    await page.get_by_label("I have read this and agree").check()
    await page.get_by_role("button", name="Agree and continue").click()
    await expect(page.get_by_role("heading", name="Practice question")).to_be_visible()
    assert (await candidate_view(live, link))["consent_at"] is not None

    # The practice take stays in the browser: nothing is opened or uploaded on the server.
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    await page.get_by_role("button", name="Start the practice").click()
    await page.get_by_role("button", name="Start recording now").click()
    await record(page, 1.5)
    await shots.take(page, "practice-take")
    assert sent == []

    # A timed video question: the prompt shows only once opened; record, save, then retake.
    await page.goto(f"{link}/questions/intro")
    await expect(page.locator("#prompt")).to_be_hidden()
    await page.get_by_role("button", name="Show the question and start").click()
    await expect(page.locator("#prompt")).to_have_text("Introduce yourself in a few words.")
    await record(page, 2)
    await shots.take(page, "first-take")
    await page.get_by_role("button", name="Save this answer").click()
    await expect(page.locator("#rec-status")).to_contain_text("Saved", timeout=20_000)
    await expect(page.locator("#answered-count")).to_have_text("1")
    first = await candidate_view(live, link)
    assert first["questions"][0]["answered"] is True
    assert first["questions"][0]["takes_used"] == 1

    await page.get_by_role("button", name="Record again").click()
    await record(page, 3)
    await page.get_by_role("button", name="Save this answer").click()
    await expect(page.locator("#rec-status")).to_contain_text("Saved", timeout=20_000)
    await expect(page.locator("#rec-takes")).to_have_text("Takes used: 2 of 3")
    await expect(page.locator("#answered-count")).to_have_text("1")  # still one question answered
    await expect(page.locator("#rec-live")).to_be_hidden()  # the camera is off between takes
    await shots.take(page, "retake-saved")

    # A written answer, then a choice made with the keyboard.
    await page.get_by_role("link", name="Next question").click()
    await page.get_by_label("Your answer").fill("I like untangling hard problems for people.")
    await page.get_by_role("button", name="Save answer").click()
    await expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    await expect(page.get_by_role("heading", name="Question 3")).to_be_visible()
    await page.get_by_label("Evenings").focus()
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    await laptop.close()  # the candidate leaves

    # Another device, later: everything saved is there; submit.
    phone = await new_context(browser, 390, 844)
    page = await phone.new_page()
    await page.goto(link)
    await expect(page.get_by_text("You have answered 3 of 3")).to_be_visible()
    await page.get_by_role("link", name="Continue with the questions").click()
    await shots.take(page, "resumed-on-another-device")
    await page.get_by_role("button", name="Submit my answers").click()
    await expect(page.get_by_text("Submitted. Your answers are with the team")).to_be_visible()
    await shots.take(page, "submitted")
    view = await candidate_view(live, link)
    assert view["status"] in ("submitted", "in_review")
    assert view["questions"][1]["answer_text"] == "I like untangling hard problems for people."
    assert view["questions"][2]["answer_text"] == "Evenings"

    # The hiring team gets the latest take through a short-lived signed URL: a real recording.
    signed = await live.http.get(
        f"/api/v1/applications/{application['id']}/answers/intro/file", headers=STAFF
    )
    assert signed.status_code == 200, signed.text
    url = signed.json()["url"]
    download = await live.http.get(url)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("video/webm")
    assert hashlib.sha256(download.content).hexdigest() == signed.json()["sha256"]
    path = Path(live.settings.DATA_DIR) / "downloaded.webm"
    path.write_bytes(download.content)
    media = inspect_upload(path, "video")
    detail = (await live.http.get(f"/api/v1/applications/{application['id']}", headers=STAFF)).json()
    recorded = next(a for a in detail["answers"] if a["question_id"] == "intro")
    assert recorded["duration_seconds"] == pytest.approx(media.duration_seconds, abs=0.01)
    assert media.has_video
    assert media.has_audio
    assert 1.5 < (media.duration_seconds or 0) < 20, media  # the 3 s retake, not the 2 s first take
    assert media.duration_seconds
    assert media.duration_seconds > 2.4

    # ... and it plays in a browser: frames advance, the picture has a size.
    staff = await new_context(browser)
    player = await staff.new_page()
    played = await player.evaluate(
        """async (url) => {
            const video = document.createElement("video");
            video.muted = true;
            video.src = url;
            document.body.appendChild(video);
            await new Promise((resolve, reject) => {
                video.onloadeddata = resolve;
                video.onerror = () => reject(new Error("media error " + (video.error && video.error.code)));
            });
            await video.play();
            await new Promise((resolve) => setTimeout(resolve, 1500));
            return {time: video.currentTime, width: video.videoWidth, height: video.videoHeight};
        }""",
        url,
    )
    assert played["time"] > 0.5, played
    assert played["width"] > 0, played
    assert played["height"] > 0, played
    await phone.close()
    await staff.close()


@pytest.mark.usefixtures("pipelines")
async def test_the_main_flow_on_a_360px_phone_with_a_think_time_question(
    live: Live, browser: Browser, shots: Shots
) -> None:
    _, link = await live.invite("portal-phone", "Field technician")
    context = await new_context(browser, 360, 740)
    page = await context.new_page()
    await page.goto(link)
    await fits(page, 360)
    await shots.take(page, "overview")

    await page.get_by_role("link", name="Start: what we record and why").click()
    await fits(page, 360)
    await shots.take(page, "consent")
    await page.get_by_label("I have read this and agree").check()
    await page.get_by_role("button", name="Agree and continue").click()
    await fits(page, 360)
    await shots.take(page, "practice")

    await page.goto(f"{link}/questions/pitch")
    await fits(page, 360)
    await shots.take(page, "timed-question-closed")
    await page.get_by_role("button", name="Show the question and start").click()
    await expect(page.locator("#prompt")).to_have_text("In one sentence: why you?")
    await expect(page.locator("#rec-clock")).to_contain_text("Recording starts in")
    await shots.take(page, "thinking")
    # Think time runs out: recording starts by itself and stops itself at the 4 s limit.
    await expect(page.locator("#rec-stop")).to_be_visible(timeout=10_000)
    await shots.take(page, "recording")
    await expect(page.locator("#rec-preview")).to_be_visible(timeout=15_000)
    await expect(page.locator("#rec-status")).to_contain_text("Time is up")
    await expect(page.get_by_role("button", name="Record again")).to_be_hidden()  # one take only
    await page.get_by_role("button", name="Save this answer").click()
    await expect(page.locator("#rec-status")).to_contain_text("Saved", timeout=20_000)
    await fits(page, 360)
    await shots.take(page, "saved")

    await page.goto(f"{link}/questions")
    await fits(page, 360)
    await page.get_by_role("button", name="Submit my answers").click()
    await expect(page.get_by_text("Submitted. Your answers are with the team")).to_be_visible()
    await fits(page, 360)
    await shots.take(page, "submitted")
    for path in ("/faq", "/messages", "/extension", "/feedback", "/privacy"):
        await page.goto(link + path)
        await fits(page, 360)
        await shots.take(page, path.strip("/"))
    assert len(list(shots.directory.glob("*.png"))) >= 12
    await context.close()


@pytest.mark.usefixtures("pipelines")
async def test_a_timed_question_opened_on_one_device_keeps_its_clock_on_another(
    live: Live, browser: Browser
) -> None:
    _, link = await live.invite("portal-phone", "Field technician")
    first = await new_context(browser)
    page = await first.new_page()
    await page.goto(f"{link}/consent")
    await page.get_by_label("I have read this and agree").check()
    await page.get_by_role("button", name="Agree and continue").click()
    await page.goto(f"{link}/questions/pitch")
    await page.get_by_role("button", name="Show the question and start").click()
    await expect(page.locator("#prompt")).to_be_visible()
    opened = (await candidate_view(live, link))["questions"][0]["open_take"]
    await first.close()

    second = await new_context(browser)
    page = await second.new_page()
    await page.goto(f"{link}/questions/pitch")
    # The prompt is already shown and the take is the same one: reopening does not restart the clock.
    await expect(page.locator("#prompt")).to_have_text("In one sentence: why you?")
    await page.get_by_role("button", name="Start").click()
    await expect(page.locator("#rec-stop")).to_be_visible(timeout=10_000)
    again = (await candidate_view(live, link))["questions"][0]
    assert again["open_take"]["opened_at"] == opened["opened_at"]
    assert again["takes_used"] == 1
    await second.close()


@pytest.mark.usefixtures("pipelines")
async def test_a_document_upload_refused_for_its_content_then_accepted(
    live: Live, browser: Browser, shots: Shots, tmp_path: Path
) -> None:
    application, link = await live.invite("portal-document", "Analyst")
    program = tmp_path / "cv.pdf"  # named like a PDF, but a Windows program
    program.write_bytes(b"MZ\x90\x00" + bytes(200))
    document = tmp_path / "my cv.png"  # named like an image, but a PDF
    document.write_bytes(PDF)
    context = await new_context(browser, 360, 740)
    page = await context.new_page()
    await page.goto(f"{link}/questions/cv")
    await page.get_by_label("Your file").set_input_files(str(program))
    await page.get_by_role("button", name="Save answer").click()
    field = page.get_by_label("Your file")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#answer-error")).to_contain_text("PDF")
    await fits(page, 360)
    await shots.take(page, "refused-document")
    await page.get_by_label("Your file").set_input_files(str(document))
    await page.get_by_role("button", name="Save answer").click()
    await expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    stored = (await live.http.get(f"/api/v1/applications/{application['id']}", headers=STAFF)).json()
    [answer] = stored["answers"]
    assert answer["content_type"] == "application/pdf"
    assert answer["file_name"] == "answer-cv.pdf"
    assert answer["duration_seconds"] is None
    assert answer["file_sha256"] == hashlib.sha256(PDF).hexdigest()
    await context.close()


@pytest.mark.usefixtures("pipelines")
async def test_a_recording_made_elsewhere_can_be_uploaded_when_the_browser_cannot_record(
    live: Live, browser: Browser, tmp_path: Path
) -> None:
    application, link = await live.invite("portal-visit", "Support engineer")
    clip = tmp_path / "IMG_0042.webm"  # what a phone's camera app might hand over
    clip.write_bytes(webm(1.0))
    context = await new_context(browser, 360, 740)
    page = await context.new_page()
    await page.goto(f"{link}/questions/intro")
    await expect(page).to_have_url(f"{link}/consent")  # consent first, whichever way it is recorded
    await page.get_by_label("I have read this and agree").check()
    await page.get_by_role("button", name="Agree and continue").click()
    await page.goto(f"{link}/questions/intro")
    await page.get_by_text("Cannot record in this browser?").click()
    await page.get_by_role("button", name="Show the question and start the clock").click()
    await expect(page.locator("#prompt")).to_have_text("Introduce yourself in a few words.")
    await page.get_by_text("Cannot record in this browser?").click()
    await page.get_by_label("Your recording").set_input_files(str(clip))
    await page.get_by_role("button", name="Upload recording").click()
    await expect(page.get_by_text("Your answer is saved.")).to_be_visible()
    detail = (await live.http.get(f"/api/v1/applications/{application['id']}", headers=STAFF)).json()
    [answer] = detail["answers"]
    assert answer["file_name"] == "answer-intro.webm"
    assert answer["content_type"] == "video/webm"
    assert answer["duration_seconds"] == pytest.approx(1.0, abs=0.3)
    await context.close()
