"""Step 7 findings on sign-in, tokens, request bodies, candidate links and logs, each driven through
the API as a client (or an attacker) would. Every test here failed on the code before its fix."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import Session

from api.app import REDACT_LINKS, create_app
from offhours import accounts
from offhours.models import ContactMessage, new_id
from tests.conftest import STAFF, Stack, token_from, unique_email

PASSWORD = "a password long enough"
HTML = {"Accept": "text/html"}


def app_with(stack: Stack, **overrides: Any) -> FastAPI:
    settings = stack.settings.model_copy(update=overrides) if overrides else stack.settings
    return create_app(settings, temporal_client=stack.client, engine=stack.engine)


def client_of(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50123))
    return httpx.AsyncClient(transport=transport, base_url="http://offhours.test")


def make_user(stack: Stack, role: str = "recruiter", password: str = PASSWORD) -> str:
    email = unique_email()
    with Session(stack.engine) as session:
        accounts.create_user(session, email, "Rita", role, "ana", password)
        session.commit()
    return email


async def sign_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/staff/login", headers=HTML)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token is not None, page.text
    return await http.post(
        "/staff/login",
        data={"csrf_token": token[1], "email": email, "password": password, "next": "/staff"},
        headers=HTML,
    )


# ------------------------------------------------------------------------------------ sign-in


async def test_sign_ins_are_throttled_per_account_and_address(stack: Stack) -> None:
    app = app_with(stack, LOGIN_RATE_LIMIT="3/minute", LOGIN_ACCOUNT_RATE_LIMIT="4/minute")
    email = make_user(stack)
    async with (
        client_of(app, "198.51.100.20") as one,
        client_of(app, "198.51.100.21") as two,
        client_of(app, "198.51.100.22") as three,
    ):
        for _ in range(3):
            assert (await sign_in(one, email, "wrong password, wrong")).status_code == 401
        refused = await sign_in(one, email, "wrong password, again")
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "too many sign-in attempts for this account" in refused.text
        # Even the right password waits there (a guesser must not learn that a guess was right).
        assert (await sign_in(one, email)).status_code == 429
        # One guesser does not lock the owner out from elsewhere...
        assert (await sign_in(two, email)).status_code == 303
        # ...but guesses spread over addresses meet the account's own, higher ceiling.
        assert (await sign_in(three, email, "wrong from a third place")).status_code == 429
        # Another account is not held responsible.
        assert (await sign_in(three, make_user(stack))).status_code == 303


async def test_guesses_sent_at_once_are_counted_one_by_one(stack: Stack) -> None:
    app = app_with(stack, LOGIN_RATE_LIMIT="3/minute")
    email = make_user(stack)
    async with client_of(app, "198.51.100.25") as guesser:
        page = await guesser.get("/staff/login", headers=HTML)
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        assert csrf is not None

        async def guess(n: int) -> int:
            form = {
                "csrf_token": csrf[1],
                "email": email,
                "password": f"parallel guess {n:04}",
                "next": "/staff",
            }
            return (await guesser.post("/staff/login", data=form, headers=HTML)).status_code

        statuses = await asyncio.gather(*(guess(n) for n in range(8)))
    assert sorted(statuses) == [401, 401, 401, 429, 429, 429, 429, 429], statuses


async def test_a_flood_of_sign_ins_does_not_starve_the_api(stack: Stack) -> None:
    """The password check waits for its turn without holding a database connection, and past a
    short queue sign-ins are told to come back (503): the rest of the API keeps answering."""
    async with client_of(stack_app(stack), "198.51.100.26") as flood:
        page = await flood.get("/staff/login", headers=HTML)
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        finished: list[str] = []

        async def attempt(n: int) -> int:
            form = {"csrf_token": csrf[1], "email": unique_email(), "password": "x" * 16, "next": "/staff"}
            status = (await flood.post("/staff/login", data=form, headers=HTML)).status_code
            finished.append("sign-in")
            return status

        async def meanwhile() -> int:
            await asyncio.sleep(0.2)
            status = (await flood.get("/api/v1/jobs", headers=STAFF)).status_code
            finished.append("jobs")
            return status

        *statuses, jobs = await asyncio.gather(*(attempt(n) for n in range(24)), meanwhile())
    assert jobs == 200
    assert set(statuses) <= {401, 503}, statuses
    assert 503 in statuses  # the queue is short
    assert finished.index("jobs") < len(finished) - 1, "the API answered before the flood was through"


def stack_app(stack: Stack) -> FastAPI:
    return app_with(stack)


async def test_failed_sign_ins_are_throttled_per_address(stack: Stack) -> None:
    app = app_with(stack, LOGIN_ADDRESS_RATE_LIMIT="4/minute")
    # Counted per address too, whichever accounts are tried (password spraying).
    async with client_of(app, "198.51.100.30") as guesser, client_of(app, "198.51.100.31") as colleague:
        for _ in range(4):  # one guess each at many accounts
            assert (await sign_in(guesser, unique_email(), "any password at all")).status_code == 401
        refused = await sign_in(guesser, make_user(stack), "a fifth guess here")
        assert refused.status_code == 429
        assert "attempts from your address" in refused.text
        assert (await sign_in(colleague, make_user(stack))).status_code == 303


async def test_the_password_hash_runs_off_the_event_loop(stack: Stack) -> None:
    """While a sign-in hashes (about half a second at N=2^17), the API keeps answering."""
    email = make_user(stack)
    order: list[str] = []

    async def login() -> None:
        await sign_in(stack.http, email)
        order.append("sign-in")

    async def health() -> None:
        await asyncio.sleep(0.05)  # the sign-in has started hashing
        response = await stack.http.get("/health")
        assert response.status_code == 200
        order.append("health")

    await asyncio.gather(login(), health())
    assert order == ["health", "sign-in"]


async def test_a_password_at_the_old_cost_is_rehashed_on_sign_in(stack: Stack) -> None:
    email = make_user(stack)
    old_cost = accounts.SCRYPT_N
    with Session(stack.engine) as session:
        user = accounts.find_user(session, email)
        # What the product stored before the cost was raised: N=2^14.
        accounts.SCRYPT_N = 2**14
        try:
            user.password_hash = accounts.hash_password(PASSWORD)
        finally:
            accounts.SCRYPT_N = old_cost
        session.add(user)
        session.commit()
        assert user.password_hash.startswith("scrypt$16384$")
    assert (await sign_in(stack.http, email)).status_code == 303
    with Session(stack.engine) as session:
        stored = accounts.find_user(session, email).password_hash
    assert stored is not None and stored.startswith(f"scrypt${2**17}$8$1$")
    assert accounts.verify_password(PASSWORD, stored)
    assert not accounts.needs_rehash(stored)


async def test_bad_bearer_tokens_are_throttled_and_good_ones_are_not(stack: Stack) -> None:
    app = app_with(stack, BAD_TOKEN_RATE_LIMIT="3/minute")
    async with client_of(app, "198.51.100.40") as guesser:
        for n in range(3):
            bad = await guesser.get("/api/v1/jobs", headers={"Authorization": f"Bearer oh_guess{n}"})
            assert bad.status_code == 401
        refused = await guesser.get("/api/v1/jobs", headers={"Authorization": "Bearer oh_guess9"})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        # A valid token from the same address is served.
        assert (await guesser.get("/api/v1/jobs", headers=STAFF)).status_code == 200


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


async def invited(stack: Stack) -> tuple[str, str, str]:
    job = await stack.create_job()
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [mail] = await stack.mailbox.wait_for(address, 1)
    return application["id"], address, token_from(mail.link())


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
    assert status.status_code == 200 and status.json()["status"] == "withdrawn"
    assert secret_answer not in status.text and secret_question not in status.text
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


# --------------------------------------------------------------------------------- identities


async def in_review(stack: Stack) -> str:
    application_id, _, token = await invited(stack)
    for question_id in ("motivation", "experience"):
        answered = await stack.http.post(
            f"/api/v1/candidate/{token}/answers",
            json={"question_id": question_id, "text": f"My {question_id}."},
        )
        assert answered.status_code == 200, answered.text
    assert (await stack.http.post(f"/api/v1/candidate/{token}/submit")).status_code == 200
    await stack.wait_status(application_id, "in_review")
    return application_id


CARD = {
    "overall_recommendation": "yes",
    "ratings": {"communication": 4, "relevant_experience": 4, "motivation": 5},
}


async def test_only_directory_linked_staff_score_or_vote(stack: Stack) -> None:
    application_id = await in_review(stack)
    base = f"/api/v1/applications/{application_id}"
    detail = await stack.application(application_id)
    [reviewer] = [a["reviewer"] for a in detail["review_assignments"] if a["status"] == "assigned"]
    with Session(stack.engine) as session:
        unlinked = accounts.create_user(session, unique_email(), "Unlinked ops", "ops")
        _, plain = accounts.create_token(session, unlinked.id, "test")
        session.commit()
    for headers in (STAFF, {"Authorization": f"Bearer {plain}"}):
        for body in (CARD, {**CARD, "reviewer_id": reviewer}):
            refused = await stack.http.post(f"{base}/scorecards", json=body, headers=headers)
            assert refused.status_code == 403, refused.text
            assert "not linked to the staff directory" in refused.json()["detail"]
        vote = await stack.http.post(
            f"{base}/decision", json={"decision": "approve", "approver_id": "kai"}, headers=headers
        )
        assert vote.status_code == 403, vote.text
    # A linked account scores as itself only.
    other = stack.as_person("ruth" if reviewer != "ruth" else "kai")
    posing = await stack.http.post(
        f"{base}/scorecards", json={**CARD, "reviewer_id": reviewer}, headers=other
    )
    assert posing.status_code == 403 and "as yourself" in posing.json()["detail"]
    assert (await stack.application(application_id))["scorecards"] == []
    scored = await stack.http.post(f"{base}/scorecards", json=CARD, headers=stack.as_person(reviewer))
    assert scored.status_code == 201, scored.text
    [card] = scored.json()["scorecards"]
    assert card["reviewer"] == reviewer


async def test_inviting_a_known_address_does_not_show_another_jobs_record(stack: Stack) -> None:
    first_job = await stack.create_job("Data analyst")
    second_job = await stack.create_job("Support engineer")
    address = unique_email()
    first = await stack.invite(first_job["id"], address, name="Ada Lovelace")
    await stack.mailbox.wait_for(address, 1)
    response = await stack.http.post(
        "/api/v1/applications",
        json={
            "job_id": second_job["id"],
            "candidate": {"name": "A. King", "email": address, "timezone": "America/Chicago"},
        },
        headers=STAFF,
    )
    assert response.status_code == 201, response.text
    second = response.json()
    # The second job's recruiter sees what they typed, not what the first job stored.
    assert second["candidate"]["name"] == "A. King"
    assert second["candidate"]["timezone"] == "America/Chicago"
    assert "Ada" not in response.text and "Europe/Paris" not in response.text
    assert (await stack.application(second["id"]))["candidate"]["name"] == "A. King"
    # The first job's record is unchanged, and each invitation greets the candidate by its own name.
    assert (await stack.application(first["id"]))["candidate"]["name"] == "Ada Lovelace"
    mails = await stack.mailbox.wait_for(address, 2)
    greeting = {("Support" in m.subject): m.text for m in mails}
    assert "A. King" in greeting[True] and "Ada" not in greeting[True]
    assert "Ada Lovelace" in greeting[False]


async def test_staff_routes_authenticate_before_they_judge_the_body(stack: Stack) -> None:
    job = await stack.create_job()
    reviewer = {"Authorization": f"Bearer {make_token(stack, 'reviewer')}"}
    for path in ("/api/v1/jobs", "/api/v1/applications", f"/api/v1/jobs/{job['id']}/members"):
        for body in (b"{not json", b'{"title": 5}', b"[]"):
            for headers, status in (({}, 401), ({"Authorization": "Bearer oh_wrong"}, 401), (reviewer, 403)):
                response = await stack.http.post(
                    path, content=body, headers={"Content-Type": "application/json", **headers}
                )
                assert response.status_code == status, (path, body, headers, response.text)
            # Staff allowed there hear what is wrong with the body.
            judged = await stack.http.post(
                path, content=body, headers={"Content-Type": "application/json", **STAFF}
            )
            assert judged.status_code == 422, (path, body, judged.text)


def make_token(stack: Stack, role: str) -> str:
    with Session(stack.engine) as session:
        user = accounts.create_user(session, unique_email(), f"A {role}", role, "sam")
        _, plain = accounts.create_token(session, user.id, "test")
        session.commit()
    return plain
