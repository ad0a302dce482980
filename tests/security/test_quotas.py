"""Quotas per application, so that one candidate link cannot flood staff mailboxes, fill the disk or
grow a workflow's history without end (Step 7 security findings).

Questions to the contact stop at MAX_CONTACT_MESSAGES_PER_APPLICATION (each one emails staff),
uploads at MAX_UPLOADS_PER_APPLICATION, and takes of a recording without `retakes` at
MAX_TAKES_PER_QUESTION: one more is refused with a message naming the limit, and nothing is stored
or sent. A replaced upload's old file is removed once no answer references it (a file stored in
clear before sealing: no answer of any application), and identical bytes uploaded at the same time
never remove each other's file.

Real parts throughout: Temporal dev server, a worker, SQLite (and PostgreSQL for what runs at
once), SMTP, and real WebM recordings.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from offhours.db import make_engine
from offhours.models import Answer, ContactMessage
from offhours.settings import Settings
from offhours.storage import HOLD_SECONDS, FileStore, TooManyUploads
from pipelines.people import PEOPLE
from pipelines.registry import PIPELINES, Pipeline, validate
from pipelines.stages import Criterion, Decision, Interview, Invite, Question, Review
from tests.support.actors import STAFF, unique_email
from tests.support.mail import Mailbox, token_from
from tests.support.postgres import fresh_schema, throwaway_postgres, unavailable_reason
from tests.support.samples import PDF, webm
from tests.support.stack import Stack, free_port, start_stack

QUOTAS = Pipeline(
    name="quotas",
    title="Quotas per application",
    stages=(
        Invite(),
        Interview(
            questions=(
                Question("intro", "Introduce yourself on camera", "video"),  # no retakes set: unlimited
                Question("cv", "Upload your CV", "file", required=False),
                Question("letter", "Upload a cover letter", "file", required=False),
            )
        ),
        Review(criteria=(Criterion("clarity", "Clarity", ("1", "2", "3", "4", "5")),)),
        Decision(),
    ),
    contact="ana",
)
CONTACT = PEOPLE["ana"]


@pytest.fixture
def quotas(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(PIPELINES, QUOTAS.name, validate(QUOTAS))
    return QUOTAS.name


# --------------------------------------------------------------------------------------- helpers


@dataclass
class Invited:
    application_id: str
    token: str

    @property
    def api(self) -> str:
        return f"/api/v1/candidate/{self.token}"


async def invite(stack: Stack, pipeline: str) -> Invited:
    job = await stack.create_job("Support engineer", pipeline=pipeline)
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [mail] = await stack.mailbox.wait_for(address, 1)
    return Invited(application["id"], token_from(mail.link()))


async def consent(http: httpx.AsyncClient, who: Invited) -> None:
    version = (await http.get(who.api)).json()["consent_version"]
    agreed = await http.post(f"{who.api}/consent", json={"version": version})
    assert agreed.status_code == 200, agreed.text


@asynccontextmanager
async def client_with(stack: Stack, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The same product (Temporal, worker, database, DATA_DIR) served with other settings."""
    settings = stack.settings.model_copy(update=overrides)
    app = create_app(settings, temporal_client=stack.client, engine=stack.engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://offhours.test") as http:
        yield http


async def upload(
    http: httpx.AsyncClient, who: Invited, question_id: str, content: bytes, name: str = "answer.pdf"
) -> httpx.Response:
    return await http.post(
        f"{who.api}/answers",
        data={"question_id": question_id},
        files={"file": (name, content, "application/octet-stream")},
    )


def a_pdf(label: str) -> bytes:
    """A small PDF whose bytes (and so sha256) depend on `label`."""
    return PDF + f"%{label}\n".encode()


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def sealed(settings: Settings, application_id: str, content: bytes) -> Path:
    return FileStore(settings.DATA_DIR).sealed_path(application_id, sha(content))


def stored_of(settings: Settings, application_id: str) -> set[str]:
    """The sha256 of every sealed object of the application."""
    objects = settings.DATA_DIR / "objects" / application_id
    return {p.parent.name + p.name for p in objects.rglob("*") if p.is_file()} if objects.exists() else set()


def holds_left(settings: Settings) -> list[Path]:
    pending = settings.DATA_DIR / "pending"
    return [p for p in pending.rglob("*") if p.is_file() and p.name != ".lock"] if pending.exists() else []


def incoming_left(settings: Settings) -> list[Path]:
    incoming = settings.DATA_DIR / "incoming"
    return list(incoming.iterdir()) if incoming.exists() else []


def answer_sha(stack: Stack, who: Invited, question_id: str) -> str | None:
    with Session(stack.engine) as session:
        row = session.exec(
            select(Answer).where(
                Answer.application_id == who.application_id, Answer.question_id == question_id
            )
        ).first()
        return row.file_sha256 if row else None


async def downloaded(stack: Stack, who: Invited, question_id: str) -> bytes:
    signed = await stack.http.get(
        f"/api/v1/applications/{who.application_id}/answers/{question_id}/file", headers=STAFF
    )
    assert signed.status_code == 200, signed.text
    served = await stack.http.get(signed.json()["url"])
    assert served.status_code == 200, served.text
    return served.content


# ------------------------------------------------------------------------------ contact messages


def candidate_messages(stack: Stack, who: Invited) -> int:
    with Session(stack.engine) as session:
        rows = session.exec(
            select(ContactMessage).where(
                ContactMessage.application_id == who.application_id, ContactMessage.author == "candidate"
            )
        ).all()
        return len(rows)


async def test_questions_to_the_contact_stop_at_the_quota_and_send_no_more_email(
    stack: Stack, quotas: str
) -> None:
    who = await invite(stack, quotas)
    async with client_with(stack, MAX_CONTACT_MESSAGES_PER_APPLICATION=2) as http:
        for n in range(2):
            sent = await http.post(f"{who.api}/messages", json={"body": f"Question {n}?"})
            assert sent.status_code == 201, sent.text
        await stack.mailbox.wait_for(CONTACT.email, 2)

        refused = await http.post(f"{who.api}/messages", json={"body": "And one more?"})
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert body["limit"] == 2
        assert "2 messages" in body["detail"]
        assert "wait for their answer" in body["detail"]

        # The contact's answer still goes out; the candidate's thread shows what was stored.
        answered = await stack.http.post(
            f"/api/v1/applications/{who.application_id}/messages", json={"body": "Yes."}, headers=STAFF
        )
        assert answered.status_code == 201, answered.text
        thread = (await http.get(f"{who.api}/messages")).json()
        assert [m["body"] for m in thread if m["from_candidate"]] == ["Question 0?", "Question 1?"]

    await stack.mailbox.settle(2.0)
    assert len(stack.mailbox.to(CONTACT.email)) == 2, "a message over the quota reached the contact"
    assert candidate_messages(stack, who) == 2


async def test_questions_sent_at_once_do_not_overrun_the_quota(stack: Stack, quotas: str) -> None:
    """Five at once with room for two: each passes the first count, but only two are stored, and the
    others' notices end before they can email."""
    who = await invite(stack, quotas)
    async with client_with(stack, MAX_CONTACT_MESSAGES_PER_APPLICATION=2) as http:
        sent = await asyncio.gather(
            *(http.post(f"{who.api}/messages", json={"body": f"At once {n}?"}) for n in range(5))
        )
    assert sorted(r.status_code for r in sent) == [201, 201, 429, 429, 429], [r.text for r in sent]
    await stack.mailbox.wait_for(CONTACT.email, 2)
    await stack.mailbox.settle(2.0)
    assert len(stack.mailbox.to(CONTACT.email)) == 2
    assert candidate_messages(stack, who) == 2


# ------------------------------------------------------------------------------------- uploads


async def test_uploads_stop_at_the_quota_and_store_nothing_more(stack: Stack, quotas: str) -> None:
    who = await invite(stack, quotas)
    first, second, third, fourth = (a_pdf(f"upload {n}") for n in range(4))
    async with client_with(stack, MAX_UPLOADS_PER_APPLICATION=3) as http:
        for question_id, content in (("cv", first), ("letter", second), ("cv", third)):
            saved = await upload(http, who, question_id, content)
            assert saved.status_code == 200, saved.text

        refused = await upload(http, who, "letter", fourth)
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert body["limit"] == 3
        assert "3 uploads" in body["detail"]
        assert "contact person" in body["detail"]
        # Refused before a byte was kept, whatever the question.
        assert (await upload(http, who, "cv", fourth)).status_code == 429

    assert not sealed(stack.settings, who.application_id, fourth).exists()
    assert answer_sha(stack, who, "letter") == sha(second)
    assert answer_sha(stack, who, "cv") == sha(third)
    assert incoming_left(stack.settings) == []
    assert holds_left(stack.settings) == []
    assert await downloaded(stack, who, "letter") == second


# --------------------------------------------------------------------------------------- takes


async def test_a_recording_without_retakes_stops_at_the_take_quota(stack: Stack, quotas: str) -> None:
    who = await invite(stack, quotas)
    first, second, third = webm(1.0), webm(1.5), webm(2.0)
    async with client_with(stack, MAX_TAKES_PER_QUESTION=2) as http:
        await consent(http, who)
        for recording in (first, second):
            opened = await http.post(f"{who.api}/questions/intro/open")
            assert opened.status_code == 200, opened.text
            saved = await upload(http, who, "intro", recording, "take.webm")
            assert saved.status_code == 200, saved.text

        reopened = await http.post(f"{who.api}/questions/intro/open")
        assert reopened.status_code == 409, reopened.text
        body = reopened.json()
        assert body["limit"] == 2
        assert "2 takes" in body["detail"]
        assert "stays as your answer" in body["detail"]
        # Sending a recording straight away (an untimed question needs no opening) is a take too.
        sent = await upload(http, who, "intro", third, "take.webm")
        assert sent.status_code == 409, sent.text

        intro = next(q for q in (await http.get(who.api)).json()["questions"] if q["id"] == "intro")
        assert intro["takes_used"] == 2
        assert intro["takes_allowed"] is None
    assert answer_sha(stack, who, "intro") == sha(second)
    assert not sealed(stack.settings, who.application_id, third).exists()
    assert await downloaded(stack, who, "intro") == second


# ------------------------------------------------------------------------------ replaced uploads


async def test_a_replaced_upload_removes_the_old_file_unless_another_answer_uses_it(
    stack: Stack, quotas: str
) -> None:
    who = await invite(stack, quotas)
    await consent(stack.http, who)
    shared, cv, letter = a_pdf("shared"), a_pdf("new cv"), a_pdf("new letter")
    assert (await upload(stack.http, who, "cv", shared)).status_code == 200
    assert (await upload(stack.http, who, "letter", shared)).status_code == 200
    assert stored_of(stack.settings, who.application_id) == {sha(shared)}

    # The CV changes: the old content stays, the letter still points at it.
    assert (await upload(stack.http, who, "cv", cv)).status_code == 200
    assert stored_of(stack.settings, who.application_id) == {sha(shared), sha(cv)}
    assert await downloaded(stack, who, "letter") == shared

    # The letter changes too: nothing references the old content any more, and it is gone.
    assert (await upload(stack.http, who, "letter", letter)).status_code == 200
    assert stored_of(stack.settings, who.application_id) == {sha(cv), sha(letter)}
    assert await downloaded(stack, who, "cv") == cv
    assert await downloaded(stack, who, "letter") == letter

    # A new take of a recording replaces the previous one's file.
    first, second = webm(1.0), webm(1.5)
    assert (await upload(stack.http, who, "intro", first, "take.webm")).status_code == 200
    assert (await upload(stack.http, who, "intro", second, "take.webm")).status_code == 200
    assert stored_of(stack.settings, who.application_id) == {sha(cv), sha(letter), sha(second)}
    # The same bytes sent again replace nothing.
    assert (await upload(stack.http, who, "intro", second, "take.webm")).status_code == 200
    assert await downloaded(stack, who, "intro") == second
    assert holds_left(stack.settings) == []


async def test_a_replaced_file_stored_before_sealing_goes_once_no_application_uses_it(
    stack: Stack, quotas: str
) -> None:
    """Files stored in clear before sealing are shared by content across applications."""
    mine, theirs = await invite(stack, quotas), await invite(stack, quotas)
    old = a_pdf("stored in clear")
    for who in (mine, theirs):
        assert (await upload(stack.http, who, "cv", old)).status_code == 200
        sealed(stack.settings, who.application_id, old).unlink()  # as an upgraded deployment has it
    legacy = FileStore(stack.settings.DATA_DIR).path_for(sha(old))
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_bytes(old)
    assert await downloaded(stack, theirs, "cv") == old

    assert (await upload(stack.http, mine, "cv", a_pdf("mine, new"))).status_code == 200
    assert legacy.exists(), "another application's answer still uses the file"
    assert await downloaded(stack, theirs, "cv") == old

    assert (await upload(stack.http, theirs, "cv", a_pdf("theirs, new"))).status_code == 200
    assert not legacy.exists()
    assert await downloaded(stack, mine, "cv") == a_pdf("mine, new")


async def test_identical_bytes_uploaded_at_once_both_stay_readable(stack: Stack, quotas: str) -> None:
    who = await invite(stack, quotas)
    old, new, newer = a_pdf("old"), a_pdf("new"), a_pdf("newer")
    assert (await upload(stack.http, who, "cv", old)).status_code == 200
    assert (await upload(stack.http, who, "letter", old)).status_code == 200

    # Both answers move to the same bytes at once: one object, kept, and the old one removed.
    both = await asyncio.gather(upload(stack.http, who, "cv", new), upload(stack.http, who, "letter", new))
    assert [r.status_code for r in both] == [200, 200], [r.text for r in both]
    assert await downloaded(stack, who, "cv") == new
    assert await downloaded(stack, who, "letter") == new
    assert stored_of(stack.settings, who.application_id) == {sha(new)}

    # The same question twice at once with the same bytes.
    twice = await asyncio.gather(upload(stack.http, who, "cv", newer), upload(stack.http, who, "cv", newer))
    assert [r.status_code for r in twice] == [200, 200], [r.text for r in twice]
    assert stored_of(stack.settings, who.application_id) == {sha(new), sha(newer)}

    # Swapped at once, again and again: each upload replaces the file the other one is taking.
    for _ in range(8):
        cv, letter = answer_sha(stack, who, "cv"), answer_sha(stack, who, "letter")
        swap = {sha(new): new, sha(newer): newer}
        assert cv is not None
        assert letter is not None
        swapped = await asyncio.gather(
            upload(stack.http, who, "cv", swap[letter]), upload(stack.http, who, "letter", swap[cv])
        )
        assert [r.status_code for r in swapped] == [200, 200], [r.text for r in swapped]
        assert await downloaded(stack, who, "cv") == swap[letter]
        assert await downloaded(stack, who, "letter") == swap[cv]
        assert stored_of(stack.settings, who.application_id) == {sha(new), sha(newer)}
    assert holds_left(stack.settings) == []
    assert incoming_left(stack.settings) == []


# ---------------------------------------------------------------------------------- PostgreSQL

NO_POSTGRES = unavailable_reason()
on_postgresql = pytest.mark.skipif(NO_POSTGRES is not None, reason=NO_POSTGRES or "")


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    if NO_POSTGRES is not None:
        pytest.skip(NO_POSTGRES)
    with throwaway_postgres(free_port()) as url:
        yield url


@pytest.fixture
async def pg_stack(
    dev_server: WorkflowEnvironment, settings: Settings, postgres_server: str, mailbox: Mailbox
) -> AsyncIterator[Stack]:
    engine = make_engine(fresh_schema(postgres_server))
    try:
        pg_settings = settings.model_copy(update={"DATABASE_URL": postgres_server})
        async for stack in start_stack(dev_server, pg_settings, engine, mailbox):
            yield stack
    finally:
        engine.dispose()


@on_postgresql
async def test_questions_sent_at_once_do_not_overrun_the_quota_on_postgresql(
    pg_stack: Stack, quotas: str
) -> None:
    await test_questions_sent_at_once_do_not_overrun_the_quota(pg_stack, quotas)


@on_postgresql
async def test_identical_bytes_uploaded_at_once_both_stay_readable_on_postgresql(
    pg_stack: Stack, quotas: str
) -> None:
    await test_identical_bytes_uploaded_at_once_both_stay_readable(pg_stack, quotas)


# ---------------------------------------------------------------------------------- the store

APP = "app_0123456789abcdef0123"


def test_the_store_removes_only_what_nobody_references_or_holds(tmp_path: Path) -> None:
    store, key = FileStore(tmp_path), AESGCM.generate_key(bit_length=256)
    kept, replaced, orphan = b"referenced", b"replaced", b"left by a race"
    for content in (kept, replaced, orphan):
        store.release(store.put(io.BytesIO(content), 100, APP, key))
    in_flight = store.put(io.BytesIO(replaced), 100, APP, key)  # the same bytes, being uploaded

    assert store.collect(APP, lambda: {sha(kept)}, [sha(replaced)]) == []  # held; the orphan is new
    store.release(in_flight)
    assert store.collect(APP, lambda: {sha(kept)}, [sha(replaced)]) == [sha(replaced)]

    # An unreferenced object no upload holds goes once it is older than any hold.
    old = store.sealed_path(APP, sha(orphan))
    assert store.collect(APP, lambda: {sha(kept)}) == []
    os.utime(old, (old.stat().st_atime, old.stat().st_mtime - HOLD_SECONDS - 1))
    assert store.collect(APP, lambda: {sha(kept)}) == [sha(orphan)]
    assert {p.name for p in (tmp_path / "objects" / APP).rglob("*") if p.is_file()} == {sha(kept)[2:]}


def test_the_store_counts_uploads_and_refuses_past_the_quota(tmp_path: Path) -> None:
    store, key = FileStore(tmp_path), AESGCM.generate_key(bit_length=256)
    for _ in range(2):
        store.release(store.put(io.BytesIO(b"same"), 100, APP, key, max_uploads=2))
    assert store.uploads_received(APP) == 2
    with pytest.raises(TooManyUploads):
        store.put(io.BytesIO(b"other"), 100, APP, key, max_uploads=2)
    assert not store.sealed_path(APP, sha(b"other")).exists()
    assert not list((tmp_path / "incoming").iterdir())
    assert store.erase(APP) == 1
    assert store.uploads_received(APP) == 0
