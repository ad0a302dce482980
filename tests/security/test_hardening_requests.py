"""Hardening of requests: bodies bounded before anything reads them, CSV uploads read safely, client
addresses named only by trusted proxies, retired candidate links, signed file URLs kept out of logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from sqlmodel import Session

from api.app import REDACT_LINKS
from offhours.models import ContactMessage, new_id
from tests.support.actors import HTML, STAFF, unique_email
from tests.support.journeys import invited
from tests.support.mail import token_from
from tests.support.stack import Stack, app_with, client_of

# ------------------------------------------------------------------------------- request bodies


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


async def test_json_bodies_are_bounded_before_anything_reads_them(stack: Stack) -> None:
    app = app_with(stack, MAX_JSON_BYTES=64 * 1024)
    async with client_of(app) as http:
        # Declared too large: refused at once, unauthenticated.
        declared = await http.post(
            "/api/v1/jobs",
            content=b"{" + b" " * (200 * 1024) + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert declared.status_code == 413, declared.text
        assert "64 KB" in declared.json()["detail"]
        # Sent chunked (no Content-Length): counted as it arrives and cut off.
        chunked = await http.post(
            "/api/v1/jobs", content=chunks(300 * 1024), headers={"Content-Type": "application/json", **STAFF}
        )
        assert chunked.status_code == 413, chunked.text
        # A JSON body within the limit is served as before.
        fine = await http.post(
            "/api/v1/jobs", json={"title": "Within", "pipeline": "standard"}, headers=STAFF
        )
        assert fine.status_code == 201, fine.text


async def test_a_chunked_csv_upload_is_bounded(stack: Stack) -> None:
    job = await stack.create_job()
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(200):  # 200 MiB, if it were all read
            sent.append(1)
            yield b"x" * (1024 * 1024)

    response = await stack.http.post(
        f"/api/v1/jobs/{job['id']}/invitations",
        content=endless(),
        headers={"Content-Type": "text/csv", **STAFF},
    )
    assert response.status_code == 413, response.text
    assert len(sent) <= 22, f"{len(sent)} MiB were taken before the 20 MiB limit answered"


async def test_a_second_content_type_cannot_pass_json_as_a_file(stack: Stack) -> None:
    _, _, token = await invited(stack)
    app = app_with(stack, MAX_JSON_BYTES=64 * 1024)
    body = b'{"question_id": "motivation", "text": "' + b"x" * (200 * 1024) + b'"}'
    async with client_of(app) as http:
        response = await http.post(
            f"/api/v1/candidate/{token}/answers",
            content=body,
            headers=[("Content-Type", "application/json"), ("Content-Type", "text/plain")],
        )
    assert response.status_code == 400, response.text
    assert "one Content-Type" in response.json()["detail"]


async def test_the_codec_takes_large_json_batches_and_its_413_is_readable_by_the_ui(stack: Stack) -> None:
    origin = stack.settings.TEMPORAL_UI_ORIGIN.split(",")[0].strip()
    payload = {"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": "eA==" * 400_000}  # 1.6 MB
    ok = await stack.http.post(
        "/codec/encode", json={"payloads": [payload]}, headers={"Origin": origin, **STAFF}
    )
    assert ok.status_code == 200, ok.text[:300]
    huge = {"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": "eA==" * 4_500_000}  # 18 MB
    refused = await stack.http.post(
        "/codec/encode", json={"payloads": [huge]}, headers={"Origin": origin, **STAFF}
    )
    assert refused.status_code == 413
    assert refused.headers["access-control-allow-origin"] == origin


async def test_an_oversized_csv_field_is_a_422_naming_its_line(stack: Stack) -> None:
    job = await stack.create_job()
    address = unique_email()
    body = f'name,email\nAda,{address}\nBob,"{"x" * 200_000}"\n'
    response = await stack.http.post(
        f"/api/v1/jobs/{job['id']}/invitations", content=body, headers={"Content-Type": "text/csv", **STAFF}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["line"] == 3
    assert "line 3" in response.json()["detail"]
    await stack.mailbox.settle(0.5)
    assert stack.mailbox.to(address) == [], "nothing of a file that cannot be read is taken"


async def test_a_csv_with_bare_carriage_returns_is_read(stack: Stack) -> None:
    job = await stack.create_job()
    first, second = unique_email(), unique_email()
    body = f"name,email\rAda,{first}\rBob,{second}\r"
    response = await stack.http.post(
        f"/api/v1/jobs/{job['id']}/invitations", content=body, headers={"Content-Type": "text/csv", **STAFF}
    )
    assert response.status_code == 200, response.text
    assert response.json()["invited"] == 2
    await stack.mailbox.wait_for(first, 1)
    await stack.mailbox.wait_for(second, 1)


# ---------------------------------------------------------------------------- addresses, links


async def test_trusted_proxies_name_the_client_and_no_one_else_can(stack: Stack) -> None:
    _, _, token = await invited(stack)
    app = app_with(stack, TRUSTED_PROXIES="10.0.0.0/8", BAD_LINK_RATE_LIMIT="2/minute")
    forwarded = {"X-Forwarded-For": "203.0.113.50"}
    async with client_of(app, "10.1.2.3") as proxy, client_of(app, "198.51.100.60") as stranger:
        # Through the proxy, each client is itself: one guesser does not lock out the next.
        for n in range(2):
            await proxy.get(f"/api/v1/candidate/guess-{n}", headers=forwarded)
        assert (await proxy.get("/api/v1/candidate/guess-2", headers=forwarded)).status_code == 429
        other = {"X-Forwarded-For": "203.0.113.51"}
        assert (await proxy.get("/api/v1/candidate/guess-3", headers=other)).status_code == 401
        # A client that is not a trusted proxy cannot pick its address by sending the header.
        for n in range(2):
            await stranger.get(f"/api/v1/candidate/guess-{n}", headers={"X-Forwarded-For": f"192.0.2.{n}"})
        assert (
            await stranger.get("/api/v1/candidate/guess-9", headers={"X-Forwarded-For": "192.0.2.99"})
        ).status_code == 429
        # And the genuine link works through the proxy all along.
        assert (await proxy.get(f"/api/v1/candidate/{token}", headers=forwarded)).status_code == 200


async def test_a_new_link_retires_the_old_one(stack: Stack) -> None:
    application_id, address, old = await invited(stack)
    assert (await stack.http.get(f"/api/v1/candidate/{old}")).status_code == 200
    resent = await stack.http.post(f"/staff/applications/{application_id}/resend-invite", headers=STAFF)
    assert resent.status_code == 200, resent.text
    mails = await stack.mailbox.wait_for(address, 2)
    new = token_from(mails[-1].link())
    assert new != old
    retired = await stack.http.get(f"/api/v1/candidate/{old}")
    assert retired.status_code == 410, retired.text
    assert "most recent email" in retired.json()["detail"]
    assert (await stack.http.get(f"/api/v1/candidate/{new}")).status_code == 200


async def test_a_retired_link_cannot_spend_the_new_links_budget(stack: Stack) -> None:
    application_id, address, old = await invited(stack)
    app = app_with(stack, CANDIDATE_RATE_LIMIT="3/minute")
    resent = await stack.http.post(f"/staff/applications/{application_id}/resend-invite", headers=STAFF)
    assert resent.status_code == 200, resent.text
    new = token_from((await stack.mailbox.wait_for(address, 2))[-1].link())
    async with client_of(app, "198.51.100.70") as leaked, client_of(app, "198.51.100.71") as candidate:
        for _ in range(6):
            assert (await leaked.get(f"/api/v1/candidate/{old}")).status_code in (410, 429)
        assert (await candidate.get(f"/api/v1/candidate/{new}")).status_code == 200


async def test_a_withdrawn_applications_link_shows_only_its_status(stack: Stack) -> None:
    application_id, _, token = await invited(stack)
    secret_answer, secret_question = "An answer only staff should now see", "A question to my contact"
    answered = await stack.http.post(
        f"/api/v1/candidate/{token}/answers", json={"question_id": "motivation", "text": secret_answer}
    )
    assert answered.status_code == 200, answered.text
    with Session(stack.engine) as session:  # a reply from staff in the contact thread
        session.add(
            ContactMessage(
                id=new_id("msg"), application_id=application_id, author="usr_x", body=secret_question
            )
        )
        session.commit()
    assert secret_question in (await stack.http.get(f"/api/v1/candidate/{token}")).text
    withdrawn = await stack.http.post(
        f"/api/v1/applications/{application_id}/withdraw", json={"reason": "position filled"}, headers=STAFF
    )
    assert withdrawn.status_code == 200, withdrawn.text
    status = await stack.http.get(f"/api/v1/candidate/{token}")
    assert status.status_code == 200
    assert status.json()["status"] == "withdrawn"
    assert secret_answer not in status.text
    assert secret_question not in status.text
    assert (await stack.http.get(f"/c/{token}", headers=HTML)).status_code == 200
    assert (await stack.http.get(f"/c/{token}/privacy", headers=HTML)).status_code == 200
    for method, path, body in (
        ("POST", f"/api/v1/candidate/{token}/messages", {"body": "Hello?"}),
        ("GET", f"/api/v1/candidate/{token}/messages", None),
        ("POST", f"/api/v1/candidate/{token}/consent", {"agree": True}),
        ("POST", f"/api/v1/candidate/{token}/extension", {"hours": 24, "reason": "busy"}),
    ):
        refused = await stack.http.request(method, path, json=body)
        assert refused.status_code == 410, (method, path, refused.text)
        assert "withdrawn" in refused.json()["detail"]
    # The candidate can still ask for their data to be deleted.
    deletion = await stack.http.post(f"/api/v1/candidate/{token}/deletion-request", json={"reason": None})
    assert deletion.status_code == 202, deletion.text


# ------------------------------------------------------------------------------------------ logs


def test_signed_file_urls_are_redacted_in_access_logs() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1",
            "GET",
            "/api/v1/files/12?expires=1799999999&viewer=usr_1&signature=" + "a" * 64,
            "1.1",
            200,
        ),
        None,
    )
    REDACT_LINKS.filter(record)
    assert isinstance(record.args, tuple)
    logged = str(record.args[2])
    assert "a" * 64 not in logged
    assert "signature=[signature]" in logged
    assert "expires=1799999999" in logged
