"""Uploads on the candidate's link, with the browser bypassed: a file that is not what it claims is
refused, files are stored and served as what they really are, size limits depend on the question
type, and refusals leave nothing behind."""

from __future__ import annotations

import re

import pytest

from tests.api.portal.rules import (
    browser,
    consent,
    half_received_files,
    invite,
    open_question,
    question,
    sha,
    stored_answer,
    stored_files,
    upload,
)
from tests.support.actors import STAFF
from tests.support.samples import PDF, webm
from tests.support.stack import Stack, app_with

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
    assert "has no picture" in sound_only.json()["detail"]
    assert "camera" in sound_only.json()["detail"]

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
    assert saved.size == len(PDF)
    assert saved.file_sha256 == sha(PDF)

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
        assert "larger than 1000 bytes" in body["detail"]
        assert "question 'intro'" in body["detail"]
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
