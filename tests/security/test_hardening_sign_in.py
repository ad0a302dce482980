"""Hardening of sign-in: password guesses throttled per account and per address, counted one by one
even when sent at once, hashed off the event loop, rehashed at the current cost; bad bearer tokens
throttled."""

from __future__ import annotations

import asyncio
import re

from fastapi import FastAPI
from sqlmodel import Session

from offhours import accounts
from tests.support.actors import HTML, PASSWORD, STAFF, make_user, sign_in, unique_email
from tests.support.stack import Stack, app_with, client_of

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

        async def attempt(_n: int) -> int:
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
    assert stored is not None
    assert stored.startswith(f"scrypt${2**17}$8$1$")
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
