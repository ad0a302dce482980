"""Auditing from the Temporal history: export, and replay with the current workflow code showing
the reconstructed outcome next to the recorded one; a history the code no longer produces is named
with the event where it diverges."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlmodel import Session
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from typer.testing import CliRunner

from offhours import accounts
from offhours.contracts import ApplicationInput, ApplicationState
from offhours.states import ApplicationStatus as Status
from operations.audit import recorded_outcome, replay, timeline
from pipelines.stages import Invite
from tests.support.actors import STAFF, unique_email
from tests.support.stack import Stack
from tools.cli import app as cli
from workflows.application import ApplicationWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
APPLICATIONS = sorted(
    p
    for p in HISTORIES.glob("*.json")
    if p.stem.count("--") == 1 and not p.stem.startswith("webhook-delivery--")  # applications only
)


@pytest.mark.parametrize("path", APPLICATIONS, ids=lambda p: p.stem)
async def test_every_recorded_application_replays_to_its_recorded_outcome(path: Path) -> None:
    report = await replay(path.read_text(), path.stem)
    assert report.deterministic, report.error
    assert report.recorded_outcome is not None
    assert report.recorded_outcome["status"] in (
        "approved",
        "rejected",
        "expired",
        "withdrawn",
    )
    assert report.replayed_outcome == report.recorded_outcome


async def test_a_history_the_code_would_not_produce_is_caught_with_its_event() -> None:
    data = json.loads((HISTORIES / "standard--approved.json").read_text())
    scheduled = next(e for e in data["events"] if "activityTaskScheduledEventAttributes" in e)
    scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "send_carrier_pigeon"
    report = await replay(data, "tampered")
    assert not report.deterministic
    assert report.error
    assert report.diverged_at_event == int(scheduled["eventId"])
    assert report.replayed_outcome is None
    assert report.recorded_outcome == recorded_outcome(data)


def test_the_command_line_replays_a_file(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(
        cli, ["audit", "replay", "--file", str(HISTORIES / "internship--rejected-with-feedback.json")]
    )
    assert good.exit_code == 0, good.output
    assert "replays with current code" in good.output
    assert "rejected" in good.output
    data = json.loads((HISTORIES / "standard--approved.json").read_text())
    scheduled = next(e for e in data["events"] if "activityTaskScheduledEventAttributes" in e)
    scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "send_carrier_pigeon"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    bad = runner.invoke(cli, ["audit", "replay", "--file", str(tampered)])
    assert bad.exit_code == 1
    assert "NO" in bad.output
    assert "diverged at event" in bad.output
    neither = runner.invoke(cli, ["audit", "replay"])
    assert neither.exit_code == 2


async def test_auditors_export_and_replay_a_closed_application(stack: Stack) -> None:
    job = await stack.create_job("Audited role")
    invited = await stack.invite(job["id"])
    withdrawn = await stack.http.post(
        f"/api/v1/applications/{invited['id']}/withdraw", json={}, headers=STAFF
    )
    assert withdrawn.status_code == 200
    async with asyncio.timeout(20):
        while (await stack.workflow(invited["id"]).describe()).close_time is None:
            await asyncio.sleep(0.1)
    history = await stack.http.get(f"/api/v1/applications/{invited['id']}/history", headers=STAFF)
    assert history.status_code == 200
    events = history.json()["events"]
    assert events[0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert "Ada" not in history.text
    assert "@example.com" not in history.text
    report = await stack.http.get(f"/api/v1/applications/{invited['id']}/replay", headers=STAFF)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["deterministic"] is True
    assert body["outcomes_match"] is True
    assert body["recorded_outcome"]["status"] == "withdrawn"

    timeline = await stack.http.get(f"/api/v1/applications/{invited['id']}/timeline", headers=STAFF)
    lines = [(e["what"], e["by"]) for e in timeline.json()["events"]]
    assert (
        lines[0][0]
        == "Application started on pipeline standard (version " + job["pipeline_version"][:12] + ")"
    )
    assert ("Email 'invite' to the candidate", None) in lines
    assert ("Withdrawn", "ops:admin") in lines
    assert lines[-1] == ("Closed: withdrawn", None)

    # Auditors read it, as a page too, and change nothing.
    with Session(stack.engine) as session:
        auditor = accounts.create_user(session, unique_email(), "Aud", "auditor")
        _, token = accounts.create_token(session, auditor.id, "t")
        session.commit()
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
    page = await stack.http.get(f"/staff/applications/{invited['id']}/audit", headers=headers)
    assert page.status_code == 200
    assert "The history replays with the current code." in page.text
    assert "Withdrawn" in page.text


def test_the_timeline_names_who_did_what_from_the_history_alone() -> None:
    data = json.loads((HISTORIES / "senior-backend-engineer--hired.json").read_text())
    lines = [(e["what"], e["by"]) for e in timeline(data)]
    whats = [what for what, _ in lines]
    assert whats[0].startswith("Application started on pipeline senior-backend-engineer (version ")
    assert "3 reviewer(s) assigned from pool eng" in whats
    assert any(w.startswith("Scorecard for kai: yes") for w in whats)
    assert ("Decision: approve (no reason code), vote of kai", "ops:admin") in lines
    assert "Email 'approved' to the candidate" in whats
    assert whats[-1] == "Closed: approved"
    ids = [e["event_id"] for e in timeline(data)]
    assert ids == sorted(ids)


# A change to workflow code that would alter running histories: a second status write when the
# candidate is invited. Made plainly, replay catches it; made behind workflow.patched, the recorded
# histories (which predate it) replay unchanged and new applications take the new path.
@workflow.defn(name="Application")
class ChangedPlainly(ApplicationWorkflow):
    @workflow.run
    async def run(self, input: ApplicationInput) -> ApplicationState:
        return await super().run(input)

    async def _run_invite(self, stage: Invite) -> None:
        await self._record_status(Status.invited)
        await super()._run_invite(stage)


@workflow.defn(name="Application")
class ChangedBehindPatch(ApplicationWorkflow):
    @workflow.run
    async def run(self, input: ApplicationInput) -> ApplicationState:
        return await super().run(input)

    async def _run_invite(self, stage: Invite) -> None:
        if workflow.patched("status-before-invite"):
            await self._record_status(Status.invited)
        await super()._run_invite(stage)


async def _replay_with(workflow_class: type, name: str) -> str | None:
    history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
    replayer = Replayer(workflows=[workflow_class], workflow_runner=UnsandboxedWorkflowRunner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return str(result.replay_failure) if result.replay_failure else None


async def test_a_nondeterministic_change_is_caught_and_the_same_change_behind_patched_passes() -> None:
    for name in ("standard--approved", "support-agent--consent-and-timed-takes"):
        plainly = await _replay_with(ChangedPlainly, name)
        assert plainly is not None, name
        assert "Nondeterminism" in plainly, name
        assert await _replay_with(ChangedBehindPatch, name) is None, name
        assert await _replay_with(ApplicationWorkflow, name) is None, name
