"""Privacy, tried as HR ops and a candidate would: personal content never readable in Temporal,
retention that erases when due (and not while on legal hold), erasure that leaves nothing readable in
the product's files while the audit still replays and the archive's chain still verifies.

Real parts: a Temporal dev server writing its own SQLite file (scanned byte by byte), the time-skipping
server for months of retention, SQLite for the product, aiosmtpd for email, the HTTP API."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from offhours.settings import Settings
from operations import audit
from operations.archive import sweep, verify_chain
from tests.support.actors import STAFF, make_staff, unique_email
from tests.support.mail import Mailbox, token_from
from tests.support.stack import Stack, start_stack
from tools.binaries import temporal_cli

MARK = f"qx{uuid.uuid4().hex[:8]}"  # distinctive: appears nowhere unless we put it there
NAME = f"Zebulon {MARK}Quill"
FILE_NAME = f"Zebulon_{MARK}_CV.pdf"
SECRETS = {
    "answer": f"My motivation is {MARK}-answer-motivation",
    "experience": f"Ten years of {MARK}-answer-experience",
    "notes": f"Reviewer notes {MARK}-notes",
    "reason": f"Decision reason {MARK}-decision",
    "extension": f"Extension reason {MARK}-extension",
}
FILE_BYTES = f"%PDF-1.4 curriculum vitae {MARK}-file-content\n".encode()


def everything_secret(email: str) -> list[str]:
    return [*SECRETS.values(), NAME, MARK, FILE_NAME, email, email.split("@")[0]]


def payload_texts(value: Any) -> str:
    """Every payload of an exported history, its base64 data decoded: what the history says."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "data" in node and "metadata" in node and isinstance(node["data"], str):
                found.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(value)
    return "\n".join(found) + "\n" + json.dumps(value)


def found_in(root: Path, needles: list[str]) -> dict[str, list[str]]:
    """Which needles appear (as UTF-8 bytes) in which files under root."""
    hits: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        present = [n for n in needles if n.encode() in data]
        if present:
            hits[str(path)] = present
    return hits


@pytest.fixture
async def recorded_stack(
    tmp_path: Path, settings: Settings, engine: Engine, mailbox: Mailbox
) -> AsyncIterator[Stack]:
    """The product on a dev server of its own that keeps its store in a file we can read."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        dev_server_database_filename=str(tmp_path / "temporal.db"),
        ui=False,
        dev_server_log_level="error",
    )
    try:
        async for stack in start_stack(env, settings, engine, mailbox):
            yield stack
    finally:
        await env.shutdown()


async def drive_to_decision(stack: Stack) -> tuple[str, str]:
    """A candidate with a distinctive string in every free-text field and the file name, taken to
    an approved decision. Returns the application id and the candidate's email."""
    job = await stack.create_job("Support engineer")
    address = f"{MARK}-{unique_email()}"
    application = await stack.invite(job["id"], address, name=NAME)
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    for question_id, text in (("motivation", SECRETS["answer"]), ("experience", SECRETS["experience"])):
        response = await stack.http.post(
            f"/api/v1/candidate/{token}/answers", json={"question_id": question_id, "text": text}
        )
        assert response.status_code == 200, response.text
    upload = await stack.http.post(
        f"/api/v1/candidate/{token}/answers",
        data={"question_id": "cv"},
        files={"file": (FILE_NAME, FILE_BYTES, "application/pdf")},
    )
    assert upload.status_code == 200, upload.text
    extension = await stack.http.post(
        f"/api/v1/candidate/{token}/extension", json={"hours": 24, "reason": SECRETS["extension"]}
    )
    assert extension.status_code == 200, extension.text  # its reason went to the workflow by reference
    submitted = await stack.http.post(f"/api/v1/candidate/{token}/submit")
    assert submitted.status_code == 200, submitted.text
    await stack.wait_status(application["id"], "in_review")
    card = await stack.http.post(
        f"/api/v1/applications/{application['id']}/scorecards",
        json={
            "overall_recommendation": "yes",
            "ratings": {"communication": 4, "relevant_experience": 4, "motivation": 5},
            "notes": SECRETS["notes"],
        },
        headers=await stack.as_reviewer(application["id"]),
    )
    assert card.status_code == 201, card.text
    decision = await stack.http.post(
        f"/api/v1/applications/{application['id']}/decision",
        json={"decision": "approve", "reason": SECRETS["reason"]},
        headers=STAFF,
    )
    assert decision.status_code == 200, decision.text
    return application["id"], address


async def wait_erased(stack: Stack, application_id: str, timeout: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            detail = await stack.application(application_id)
            if detail["erased_at"] is not None:
                return detail
            await asyncio.sleep(0.1)


async def test_no_personal_content_in_temporal_and_nothing_readable_after_erasure(
    recorded_stack: Stack, tmp_path: Path
) -> None:
    stack = recorded_stack
    application_id, address = await drive_to_decision(stack)
    needles = everything_secret(address)

    # What the product shows staff is intact: the texts come back from the sealed store.
    detail = await stack.application(application_id)
    assert detail["candidate"]["name"] == NAME
    texts = {a["question_id"]: a["text"] for a in detail["answers"]}
    assert texts["motivation"] == SECRETS["answer"]
    assert detail["scorecards"][0]["notes"] == SECRETS["notes"]
    assert detail["decision_reason"] == SECRETS["reason"]
    # invite, extension granted, receipt, decision
    mails = await stack.mailbox.wait_for(address, 4)
    assert any(SECRETS["reason"] in m.text for m in mails), [m.subject for m in mails]

    # The decoded history export (what an auditor reads) holds digests, never the content.
    await stack.workflow(application_id).result()
    exported = await audit.export(stack.client, f"application-{application_id}")
    as_text = payload_texts(exported)
    assert [n for n in needles if n in as_text] == []
    assert '"text_sha256"' in as_text  # the history still proves what was recorded

    # Nor anywhere in the Temporal server's own store.
    assert found_in(tmp_path, needles).get(str(tmp_path / "temporal.db"), []) == []
    for name in ("temporal.db-wal", "temporal.db-journal"):
        wal = tmp_path / name
        if wal.exists():
            assert [n for n in needles if n.encode() in wal.read_bytes()] == []

    # Erasure: 202, then the content is gone everywhere under the product's files.
    erased = await stack.http.post(
        f"/api/v1/applications/{application_id}/erasure", json={"reason": "ticket PRIV-42"}, headers=STAFF
    )
    assert erased.status_code == 202, erased.text
    detail = await wait_erased(stack, application_id)
    assert detail["erased_by"] == "ops:admin"
    assert detail["candidate"]["name"] == ""
    assert "erased" in detail["candidate"]["email"]
    assert all(a["text"] is None for a in detail["answers"])
    assert detail["scorecards"][0]["notes"] is None
    assert detail["decision_reason"] is None
    # What the audit keeps: ids, outcome, scores and digests.
    assert detail["decision"] == "approve"
    assert detail["scorecards"][0]["ratings"]["motivation"] == 5
    assert all(a["text_sha256"] or a["file_sha256"] for a in detail["answers"])

    database = Path(stack.settings.DATABASE_URL.removeprefix("sqlite:///"))
    product_files = [p for p in database.parent.glob(database.name + "*")]
    leftovers = {str(p): [n for n in needles if n.encode() in p.read_bytes()] for p in product_files}
    assert {k: v for k, v in leftovers.items() if v} == {}
    assert found_in(stack.settings.DATA_DIR, needles) == {}
    assert found_in(stack.settings.DATA_DIR, [FILE_BYTES.decode()]) == {}

    # The audit still works: the history replays to its recorded outcome, the timeline says who
    # erased and why, the archive's chain verifies.
    report = await audit.replay(await audit.export(stack.client, f"application-{application_id}"))
    assert report.deterministic, report
    assert report.outcomes_match, report
    timeline = await stack.http.get(f"/api/v1/applications/{application_id}/timeline", headers=STAFF)
    assert timeline.status_code == 200
    erasure_line = [e for e in timeline.json()["events"] if e["what"].startswith("Erased on")]
    assert erasure_line
    assert "ticket PRIV-42" in erasure_line[0]["what"]
    assert "ops:admin" in erasure_line[0]["what"]
    archived, _ = await sweep(stack.engine, stack.client, stack.settings.DATA_DIR)
    assert archived >= 1
    assert verify_chain(stack.engine, stack.settings.DATA_DIR).intact

    # A second erasure is refused clearly; the candidate's link says the data is gone.
    again = await stack.http.post(
        f"/api/v1/applications/{application_id}/erasure", json={"reason": "again"}, headers=STAFF
    )
    assert again.status_code == 409
    assert "erased" in again.json()["detail"]


async def test_erasure_of_an_open_application_closes_it(stack: Stack) -> None:
    job = await stack.create_job("Support engineer")
    address = unique_email()
    application = await stack.invite(job["id"], address, name="Open Erasure")
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    response = await stack.http.post(
        f"/api/v1/applications/{application['id']}/erasure",
        json={"reason": "candidate phoned"},
        headers=STAFF,
    )
    assert response.status_code == 202, response.text
    detail = await wait_erased(stack, application["id"])
    assert detail["status"] == "withdrawn"
    assert detail["closed_at"] is not None
    description = await stack.workflow(application["id"]).describe()
    assert description.status == WorkflowExecutionStatus.TERMINATED
    link = await stack.http.get(f"/api/v1/candidate/{token}")
    assert link.status_code == 410
    assert "erased" in link.json()["detail"]


async def test_legal_hold_refuses_erasure_and_only_ops_may_erase(stack: Stack) -> None:
    job = await stack.create_job("Support engineer")
    application = await stack.invite(job["id"], unique_email())
    base = f"/api/v1/applications/{application['id']}"
    bad = await stack.http.post(f"{base}/legal-hold", json={}, headers=STAFF)
    assert bad.status_code == 422
    hold = await stack.http.post(f"{base}/legal-hold", json={"reason": "claim 2026-17"}, headers=STAFF)
    assert hold.status_code == 201, hold.text
    assert (await stack.application(application["id"]))["legal_hold"] is True
    refused = await stack.http.post(f"{base}/erasure", json={"reason": "asked"}, headers=STAFF)
    assert refused.status_code == 409
    assert "legal hold" in refused.json()["detail"]
    released = await stack.http.delete(f"{base}/legal-hold", headers=STAFF)
    assert released.status_code == 200
    assert released.json()[0]["released_by"] == "ops:admin"
    assert (await stack.application(application["id"]))["legal_hold"] is False
    not_held = await stack.http.delete(f"{base}/legal-hold", headers=STAFF)
    assert not_held.status_code == 409
    anonymous = await stack.http.post(f"{base}/erasure", json={"reason": "asked"})
    assert anonymous.status_code == 401
    for role in ("recruiter", "reviewer", "auditor"):
        staff = make_staff(stack, role)
        for method, path, body in (
            ("POST", f"{base}/erasure", {"reason": "asked"}),
            ("POST", f"{base}/legal-hold", {"reason": "claim"}),
            ("DELETE", f"{base}/legal-hold", None),
        ):
            refused = await stack.http.request(method, path, json=body, headers=staff.headers)
            assert refused.status_code == 403, (role, method, path, refused.text)
    assert (await stack.application(application["id"]))["erased_at"] is None


# ------------------------------------------------------------------------------ retention (time skips)

RETENTION = timedelta(days=180)  # the default RETENTION_DAYS


async def withdrawn(stack: Stack) -> tuple[str, str]:
    job = await stack.create_job("Support engineer")
    address = unique_email()
    application = await stack.invite(job["id"], address, name="Retention Candidate")
    await stack.mailbox.wait_for(address, 1)
    response = await stack.http.post(
        f"/api/v1/applications/{application['id']}/withdraw",
        json={"reason": "position filled"},
        headers=STAFF,
    )
    assert response.status_code == 200, response.text
    await stack.workflow(application["id"]).result()
    return application["id"], address


async def settle_erasure(stack: Stack, application_id: str, expect: bool) -> dict[str, Any]:
    """Give the privacy workflow time to act (real seconds), then read the application."""
    for _ in range(60):
        detail = await stack.application(application_id)
        if (detail["erased_at"] is not None) == expect and expect:
            return detail
        await asyncio.sleep(0.1)
    return await stack.application(application_id)


async def test_retention_erases_when_due_and_not_before(skipping_stack: Stack) -> None:
    stack = skipping_stack
    application_id, _ = await withdrawn(stack)
    detail = await stack.application(application_id)
    assert detail["retention_until"] is not None
    await stack.env.sleep(RETENTION - timedelta(days=1))
    assert (await settle_erasure(stack, application_id, expect=False))["erased_at"] is None
    await stack.env.sleep(timedelta(days=2))
    detail = await settle_erasure(stack, application_id, expect=True)
    assert detail["erased_at"] is not None
    assert detail["erased_by"] == "system:retention"
    assert detail["candidate"]["name"] == ""


async def test_legal_hold_suspends_retention_and_release_resumes_it(skipping_stack: Stack) -> None:
    stack = skipping_stack
    application_id, _ = await withdrawn(stack)
    base = f"/api/v1/applications/{application_id}"
    hold = await stack.http.post(f"{base}/legal-hold", json={"reason": "tribunal"}, headers=STAFF)
    assert hold.status_code == 201, hold.text
    await stack.env.sleep(RETENTION + timedelta(days=30))
    assert (await settle_erasure(stack, application_id, expect=False))["erased_at"] is None
    released = await stack.http.delete(f"{base}/legal-hold", headers=STAFF)
    assert released.status_code == 200
    await stack.env.sleep(timedelta(hours=1))
    detail = await settle_erasure(stack, application_id, expect=True)
    assert detail["erased_at"] is not None


async def test_candidate_deletion_request_is_erased_within_30_days(skipping_stack: Stack) -> None:
    stack = skipping_stack
    job = await stack.create_job("Support engineer")
    address = unique_email()
    application = await stack.invite(job["id"], address, name="Deleting Candidate")
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    request = await stack.http.post(
        f"/api/v1/candidate/{token}/deletion-request", json={"reason": "changed my mind"}
    )
    assert request.status_code in (200, 201, 202), request.text
    detail = await stack.application(application["id"])
    assert detail["erasure_requested_at"] is not None
    assert detail["erased_at"] is None
    await stack.env.sleep(timedelta(days=29))
    assert (await settle_erasure(stack, application["id"], expect=False))["erased_at"] is None
    await stack.env.sleep(timedelta(days=1, minutes=1))
    detail = await settle_erasure(stack, application["id"], expect=True)
    assert detail["erased_at"] is not None
    subjects = [m.subject for m in stack.mailbox.to(address)]
    assert any("has been erased" in s for s in subjects), subjects


def test_master_key_rotation_keeps_data_keys_readable(settings: Settings, engine: Engine) -> None:
    """A new master key put first: data keys wrapped by the old one still open, new ones use the
    new one, and rewrapping moves an old one over (after which the old key can be retired)."""
    from sqlmodel import Session

    from offhours.models import DataKey
    from offhours.settings import new_key
    from offhours.vault import Erased, Vault

    old = new_key("old")
    before = settings.model_copy(update={"MASTER_KEYS": old})
    after = settings.model_copy(update={"MASTER_KEYS": new_key("new") + "," + old})
    with Session(engine) as session:
        sealed = Vault(before).seal(session, "app_rotation", b"sealed under the old master key")
        session.commit()
        vault = Vault(after)
        assert vault.open(session, "app_rotation", sealed) == b"sealed under the old master key"
        vault.seal(session, "app_fresh", b"x")
        assert session.get(DataKey, "app_fresh").master_key_id == "new"  # type: ignore[union-attr]
        assert vault.rewrap(session, "app_rotation") is True
        session.commit()
        retired = Vault(settings.model_copy(update={"MASTER_KEYS": after.MASTER_KEYS.split(",")[0]}))  # type: ignore[union-attr]
        assert retired.open(session, "app_rotation", sealed) == b"sealed under the old master key"
        retired.destroy(session, "app_rotation")
        session.commit()
        with pytest.raises(Erased):
            retired.open(session, "app_rotation", sealed)


async def test_a_hold_on_a_candidates_deletion_request_is_told_to_them(skipping_stack: Stack) -> None:
    stack = skipping_stack
    job = await stack.create_job("Support engineer")
    address = unique_email()
    application = await stack.invite(job["id"], address, name="Held Candidate")
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    request = await stack.http.post(f"/api/v1/candidate/{token}/deletion-request", json={})
    assert request.status_code == 202, request.text
    hold = await stack.http.post(
        f"/api/v1/applications/{application['id']}/legal-hold", json={"reason": "tribunal"}, headers=STAFF
    )
    assert hold.status_code == 201, hold.text
    # invite, withdrawn (the request ends the open application), request confirmed, then the hold
    mails = await stack.mailbox.wait_for(address, 4)
    assert any("is on hold" in m.subject for m in mails), [m.subject for m in mails]
    await stack.env.sleep(timedelta(days=45))
    assert (await settle_erasure(stack, application["id"], expect=False))["erased_at"] is None


def test_the_rewrap_command_moves_every_data_key_to_the_new_master_key(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`offhours db rewrap-keys` after a rotation: every data key is then wrapped by the new master
    key alone, so the old one (and backups that need it) can be retired."""
    from sqlmodel import Session
    from typer.testing import CliRunner

    from offhours.models import DataKey
    from offhours.settings import get_settings, new_key
    from offhours.vault import Vault
    from tools.cli import app as cli

    old, fresh = new_key("old"), new_key("new")
    with Session(engine) as session:
        sealed = {
            app: Vault(settings.model_copy(update={"MASTER_KEYS": old})).seal(session, app, app.encode())
            for app in ("app_one", "app_two")
        }
        session.commit()
    for name, value in {
        "ENVIRONMENT": "test",
        "DATABASE_URL": settings.DATABASE_URL,
        "SECRET_KEY": settings.secret_key,
        "PAYLOAD_KEYS": settings.PAYLOAD_KEYS or "",
        "MASTER_KEYS": f"{fresh},{old}",
    }.items():
        monkeypatch.setenv(f"OFFHOURS_{name}", value)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["db", "rewrap-keys"])
    assert result.exit_code == 0, result.output
    assert "2 of 2 data keys re-wrapped with master key 'new'" in result.output
    only_new = Vault(settings.model_copy(update={"MASTER_KEYS": fresh}))
    with Session(engine) as session:
        for app, blob in sealed.items():
            assert session.get(DataKey, app).master_key_id == "new"  # type: ignore[union-attr]
            assert only_new.open(session, app, blob) == app.encode()
    again = CliRunner().invoke(cli, ["db", "rewrap-keys"])
    assert "0 of 2 data keys re-wrapped" in again.output
    get_settings.cache_clear()
