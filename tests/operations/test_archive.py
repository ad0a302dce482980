"""The archive of closed histories: a hash chain over digests, checked by `offhours audit
verify-chain`; tampering with a file, or removing an entry or a file, breaks it; auditors still read
a history after Temporal has deleted it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from typer.testing import CliRunner

from api.app import create_app
from offhours.codec import has_encrypted_payloads
from offhours.models import HistoryArchive
from operations.archive import archive_history, verify_chain
from tests.support.actors import STAFF
from tests.support.stack import Stack, cli_environment
from tools.cli import app as cli

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
NAMES = ["standard--approved", "standard--withdrawn", "internship--rejected-with-feedback"]


def archive_corpus(engine: Engine, data_dir: Path) -> None:
    for name in NAMES:
        archive_history(
            engine, data_dir, f"application-{name}", json.loads((HISTORIES / f"{name}.json").read_text())
        )


def test_an_intact_archive_verifies_and_archiving_twice_adds_nothing(engine: Engine, tmp_path: Path) -> None:
    archive_corpus(engine, tmp_path)
    archive_corpus(engine, tmp_path)
    report = verify_chain(engine, tmp_path)
    assert report.intact, report.problems
    assert report.entries == 3, report.problems
    with Session(engine) as session:
        rows = list(session.exec(select(HistoryArchive).order_by(col(HistoryArchive.seq))))
    assert rows[0].previous_chain == "0" * 64
    assert rows[1].previous_chain == rows[0].chain
    assert report.head == rows[-1].chain


def test_an_altered_history_breaks_the_chain(engine: Engine, tmp_path: Path) -> None:
    archive_corpus(engine, tmp_path)
    path = tmp_path / "archive" / "application-standard--withdrawn.json"
    history = json.loads(path.read_text())
    history["events"][-1]["eventTime"] = "2020-01-01T00:00:00Z"  # a closing date moved
    path.write_text(json.dumps(history, sort_keys=True, separators=(",", ":")) + "\n")
    problems = verify_chain(engine, tmp_path).problems
    assert problems == [
        "entry 2 (application-standard--withdrawn): the file archive/application-standard--withdrawn.json was altered"
    ]


def test_a_removed_entry_or_file_breaks_the_chain(engine: Engine, tmp_path: Path) -> None:
    archive_corpus(engine, tmp_path)
    with Session(engine) as session:
        middle = session.exec(select(HistoryArchive).where(HistoryArchive.seq == 2)).one()
        session.delete(middle)
        session.commit()
    problems = verify_chain(engine, tmp_path).problems
    assert any("entry 3" in p and "chain is broken before it" in p for p in problems), problems
    assert any("has no entry" in p for p in problems), problems

    (tmp_path / "archive" / "application-standard--approved.json").unlink()
    assert any("is missing" in p for p in verify_chain(engine, tmp_path).problems)


def test_removing_the_last_entry_is_seen_too(engine: Engine, tmp_path: Path) -> None:
    archive_corpus(engine, tmp_path)
    with Session(engine) as session:
        last = session.exec(select(HistoryArchive).order_by(col(HistoryArchive.seq).desc())).first()
        assert last is not None
        session.delete(last)
        session.commit()
    problems = verify_chain(engine, tmp_path).problems
    assert problems == [
        "the file archive/application-internship--rejected-with-feedback.json has no entry (its entry was removed)"
    ]


async def test_auditors_read_an_archived_history_once_temporal_has_deleted_it(
    stack: Stack, monkeypatch: Any
) -> None:
    job = await stack.create_job("Archived")
    invited = await stack.invite(job["id"])
    assert (
        await stack.http.post(f"/api/v1/applications/{invited['id']}/withdraw", json={}, headers=STAFF)
    ).status_code == 200
    handle = stack.workflow(invited["id"])
    async with asyncio.timeout(20):
        while (await handle.describe()).close_time is None:
            await asyncio.sleep(0.1)
    await stack.wait_status(invited["id"], "withdrawn")

    cli_environment(stack, monkeypatch)
    runner = CliRunner()
    archived = await asyncio.to_thread(
        runner.invoke, cli, ["audit", "archive", "--application", invited["id"]]
    )
    assert archived.exit_code == 0, archived.output
    assert "archived 1 history" in archived.output, archived.output
    verified = await asyncio.to_thread(runner.invoke, cli, ["audit", "verify-chain"])
    assert verified.exit_code == 0, verified.output
    assert "1 archived histories, chain intact" in verified.output, verified.output

    # Temporal no longer has the history (retention): an API whose Temporal does not know it.
    forgetful = await Client.connect(
        stack.client.service_client.config.target_host, namespace="retention-passed"
    )
    app = create_app(stack.settings, temporal_client=forgetful, engine=stack.engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://offhours.test"
    ) as http:
        gone = await http.get(f"/api/v1/applications/{invited['id']}/history", headers=STAFF)
        assert gone.status_code == 200
        assert gone.json()["events"][0]["eventType"].endswith("STARTED")
        replayed = (await http.get(f"/api/v1/applications/{invited['id']}/replay", headers=STAFF)).json()
        assert replayed["deterministic"]
        assert replayed["recorded_outcome"]["status"] == "withdrawn"
        timeline = await http.get(f"/api/v1/applications/{invited['id']}/timeline", headers=STAFF)
        assert timeline.status_code == 200
        assert any("Withdrawn" in str(e) for e in timeline.json()["events"])
        other = await stack.invite(job["id"])  # never archived: nowhere to read it from
        assert (
            await http.get(f"/api/v1/applications/{other['id']}/history", headers=STAFF)
        ).status_code == 404
    # Tampering with the archived file is caught by verify-chain (and reading it refuses).
    path = next((Path(stack.settings.DATA_DIR) / "archive").glob("*.json"))
    assert has_encrypted_payloads(json.loads(path.read_text()))  # kept as Temporal holds it
    path.write_text(path.read_text().replace('"eventId":"1"', '"eventId":"100"', 1))
    broken = await asyncio.to_thread(runner.invoke, cli, ["audit", "verify-chain"])
    assert broken.exit_code == 1
    assert "was altered" in broken.output
