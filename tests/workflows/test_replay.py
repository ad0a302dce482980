"""The replay corpus: recorded histories of every example pipeline and main path, replayed against
the current workflow code, so that no change silently alters how past applications were decided.

Histories live in tests/histories/ as `temporal workflow show -o json` writes them. To record them
again (after a change made behind `workflow.patched`, keep the old files and add new ones):

    OFFHOURS_RECORD_HISTORIES=1 .venv/bin/pytest tests/workflows/test_replay.py -k record

records the scenarios that have no history yet; =overwrite records them all again.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.service import RPCError
from temporalio.worker import Replayer

from operations.audit import export
from pipelines.base import Pipeline
from pipelines.registry import PIPELINES
from pipelines.stages import Criterion, Decision, Feedback, Interview, Invite, Question, Review
from tests.support.driver import Run, World, answer_everything, finish, start
from workflows import WORKFLOWS

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / "workflows"
ANCHORS = ("1", "2", "3", "4", "5")
# Not an example pipeline: two review stages with their own criteria, then feedback, recorded with
# `workflow.patched("scorecards-per-review-stage")` taken (each stage counts only its own cards).
TWO_REVIEWS = Pipeline(
    name="two-review-stages",
    title="A screen, then a panel",
    stages=(
        Invite(),
        Interview(questions=(Question("why", "Why this role?"),)),
        Review(
            id="screen", pool="default", reviewers=1, criteria=(Criterion("clarity", "Clarity", ANCHORS),)
        ),
        Review(id="panel", pool="support", reviewers=1, criteria=(Criterion("depth", "Depth", ANCHORS),)),
        Decision(),
        Feedback(),
    ),
)
TEST_PIPELINES = {TWO_REVIEWS.name: TWO_REVIEWS}


async def _approved(run: Run) -> None:
    await finish(run, "approve", rating=4)


async def _rejected(run: Run) -> None:
    await finish(run, "reject", rating=2)


async def _expired(run: Run) -> None:
    await run.world.env.sleep(timedelta(seconds=run.pipeline.invite.deadline + 60))
    await finish(run)


async def _withdrawn(run: Run) -> None:
    await answer_everything(run)
    await run.request(
        "POST", f"/api/v1/applications/{run.application_id}/withdraw", json={"reason": "Took another offer"}
    )
    await finish(run)


async def _assessment_failed(run: Run) -> None:
    await answer_everything(run, pass_assessment=False)
    await finish(run)


async def _auto_advanced(run: Run) -> None:
    await finish(run, rating=5)


async def _auto_rejected(run: Run) -> None:
    await finish(run, rating=1)


async def _deletion_requested(run: Run) -> None:
    """The candidate consents, opens a timed question, then asks for their data to be deleted."""
    c = f"/api/v1/candidate/{run.token}"
    version = (await run.request("GET", c)).json()["consent_version"]
    await run.request("POST", f"{c}/consent", json={"version": version})
    await run.request("POST", f"{c}/questions/why_support/open")
    await run.request("POST", f"{c}/deletion-request", json={"reason": "I accepted another offer"})
    await finish(run)


async def _retained_then_erased(run: Run) -> None:
    """Approved, then the retention period passes: the privacy workflow erases the content."""
    await finish(run, "approve", rating=4)
    await run.world.env.sleep(timedelta(days=181))
    handle = run.world.client.get_workflow_handle(f"privacy-{run.application_id}")
    await handle.result()


async def _held_then_erased(run: Run) -> None:
    """Withdrawn, put on legal hold past its retention, released, then erased by ops."""
    await answer_everything(run)
    a = f"/api/v1/applications/{run.application_id}"
    await run.request("POST", f"{a}/withdraw", json={"reason": "Took another offer"})
    await finish(run)
    await run.request("POST", f"{a}/legal-hold", json={"reason": "tribunal claim"})
    await run.world.env.sleep(timedelta(days=200))
    await run.request("DELETE", f"{a}/legal-hold")
    await run.request("POST", f"{a}/erasure", json={"reason": "claim settled"})
    await run.world.client.get_workflow_handle(f"privacy-{run.application_id}").result()


async def _extensions_and_deadline(run: Run) -> None:
    """More time asked twice (the first granted at once, the second beyond the automatic allowance
    and granted by a recruiter), then the deadline moved by staff; then the usual way to a hire."""
    c = f"/api/v1/candidate/{run.token}"
    a = f"/api/v1/applications/{run.application_id}"
    first = await run.request("POST", f"{c}/extension", json={"hours": 24, "reason": "a family matter"})
    assert first.status_code == 200, first.text
    second = await run.request("POST", f"{c}/extension", json={"hours": 72, "reason": "travelling"})
    assert second.status_code == 200, second.text
    granted = await run.request("POST", f"{a}/extension", json={"grant": True})
    assert granted.status_code == 200, granted.text
    moved = await run.request("POST", f"{a}/deadline", json={"hours": 48})
    assert moved.status_code == 200, moved.text
    await finish(run, "approve", rating=4)


async def _decision_escalated(run: Run) -> None:
    """Scored in the middle (neither auto-advanced nor auto-rejected), then nobody decides within
    the decision's SLA: the reminder and the escalation go out, then a decision comes."""
    await answer_everything(run)
    a = f"/api/v1/applications/{run.application_id}"
    for _ in range(40):
        state, _ = await run.state()
        if state.reviewers:
            break
        await run.world.env.sleep(timedelta(minutes=5))
    stage = run.stage(state.stage)
    for reviewer in state.reviewers:
        ratings = {criterion.id: 3 for criterion in stage.criteria}
        card = {"reviewer_id": reviewer, "overall_recommendation": "yes", "ratings": ratings}
        scored = await run.request("POST", f"{a}/scorecards", as_person=reviewer, json=card)
        assert scored.status_code == 201, scored.text
    await run.world.env.sleep(timedelta(days=3))  # past the decision's SLA of two days
    await finish(run, "approve")


async def _slot_missed(run: Run) -> None:
    """Through the panel to the live interview: slots are offered, none is booked in time, and the
    application expires with the 'scheduling missed' email."""
    a = f"/api/v1/applications/{run.application_id}"
    await answer_everything(run)
    for _ in range(60):
        state, running = await run.state()
        assert running, state
        stage = run.stage(state.stage)
        if stage is not None and stage.kind == "scheduling":
            break
        for reviewer in state.reviewers if stage is not None and stage.kind == "review" else ():
            ratings = {criterion.id: 4 for criterion in stage.criteria}
            card = {"reviewer_id": reviewer, "overall_recommendation": "yes", "ratings": ratings}
            await run.request("POST", f"{a}/scorecards", as_person=reviewer, json=card)
        await run.world.env.sleep(timedelta(hours=6))
    slot = await run.world.env.get_current_time() + timedelta(days=2)
    offered = await run.request("POST", f"{a}/slots", json={"slots": [slot.isoformat()]})
    assert offered.status_code == 200, offered.text
    await run.world.env.sleep(timedelta(seconds=stage.pick_within + 3600))
    await finish(run)


Scenario = Callable[[Run], Coroutine[Any, Any, None]]
SCENARIOS: dict[str, tuple[str, Scenario, str]] = {
    "standard--approved": ("standard", _approved, "approved"),
    "standard--rejected": ("standard", _rejected, "rejected"),
    "standard--expired": ("standard", _expired, "expired"),
    "standard--withdrawn": ("standard", _withdrawn, "withdrawn"),
    "support-agent--assessment-failed": ("support-agent", _assessment_failed, "rejected"),
    "support-agent--auto-advanced": ("support-agent", _auto_advanced, "approved"),
    "support-agent--auto-rejected": ("support-agent", _auto_rejected, "rejected"),
    # Recorded with the portal's updates: consent, timed questions opened before they are answered.
    "support-agent--consent-and-timed-takes": ("support-agent", _auto_advanced, "approved"),
    "support-agent--deletion-requested": ("support-agent", _deletion_requested, "withdrawn"),
    "senior-backend-engineer--hired": ("senior-backend-engineer", _approved, "approved"),
    "senior-backend-engineer--rejected": ("senior-backend-engineer", _rejected, "rejected"),
    "internship--hired-and-onboarded": ("internship", _approved, "approved"),
    "internship--rejected-with-feedback": ("internship", _rejected, "rejected"),
    # Step 6: personal text by reference (ids and digests), the retention clock started at the
    # close, and the privacy workflow that erases (saved as --privacy).
    "standard--retained-then-erased": ("standard", _retained_then_erased, "approved"),
    "standard--held-then-erased": ("standard", _held_then_erased, "withdrawn"),
    # Before the workflow is split by stage (Step 8): the paths the corpus lacked.
    "standard--extensions-and-deadline": ("standard", _extensions_and_deadline, "approved"),
    "support-agent--decision-escalated": ("support-agent", _decision_escalated, "approved"),
    "senior-backend-engineer--slot-missed": ("senior-backend-engineer", _slot_missed, "expired"),
    # Step 8: the second review stage scores its own cards only (behind a patch).
    "two-review-stages--approved": ("two-review-stages", _approved, "approved"),
}


def corpus() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def started_pipeline(history: dict[str, Any]) -> tuple[str, str]:
    first = history["events"][0]
    attributes = first["workflowExecutionStartedEventAttributes"]
    return attributes["workflowType"]["name"], json.dumps(attributes.get("input", {}))


async def test_the_corpus_replays_against_the_current_code() -> None:
    files = corpus()
    assert files, "no recorded histories in tests/histories"
    replayer = Replayer(workflows=WORKFLOWS)
    for path in files:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


def test_the_corpus_covers_every_example_pipeline_and_main_path() -> None:
    names = {p.stem for p in corpus()}
    assert set(SCENARIOS) <= names, (
        f"missing histories: {sorted(set(SCENARIOS) - names)}; record them (see the docstring)"
    )
    covered = {SCENARIOS[n][0] for n in names if n in SCENARIOS}
    examples = {name for name in PIPELINES if name not in TEST_PIPELINES}
    assert examples <= covered, f"pipelines without a recorded history: {examples - covered}"
    assert any("--review-task-" in n for n in names), "the corpus must include review task histories"
    assert any("--reference-check-" in n for n in names), "the corpus must include a custom child workflow"
    assert any(n.endswith("--privacy") for n in names), "the corpus must include privacy workflows"
    webhooks = {n for n in names if n.startswith("webhook-delivery--")}
    assert {"webhook-delivery--delivered-after-retries", "webhook-delivery--gave-up"} <= webhooks, (
        "the corpus must include webhook deliveries (recorded by tests/workflows/test_webhook_delivery.py)"
    )
    for name in SCENARIOS:
        data = json.loads((HISTORIES / f"{name}.json").read_text())
        kind, _ = started_pipeline(data)
        assert kind == "Application"
        last = data["events"][-1]["eventType"]
        assert last in (
            "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
            EventType.Name(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED),
        )


def _said(node: Any) -> list[str]:
    """Every update name and every payload's text in an exported history (payloads are base64)."""
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("data"), str) and "metadata" in node:
            with contextlib.suppress(ValueError):
                found.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
        if isinstance(node.get("name"), str):
            found.append(node["name"])
        for value in node.values():
            found += _said(value)
    elif isinstance(node, list):
        for value in node:
            found += _said(value)
    return found


def test_the_corpus_holds_the_paths_a_refactor_must_keep() -> None:
    """Each update handler and each timer-driven branch that the workflow's split by stage moves
    has a recorded history to replay against: the update names and the emails those branches send."""
    said = [text for path in corpus() for text in _said(json.loads(path.read_text()))]
    every_update = [
        "request_extension",
        "decide_extension",
        "extend_deadline",
        "save_answer",
        "open_question",
        "give_consent",
        "submit",
        "start_assessment",
        "save_assessment_answer",
        "submit_assessment",
        "submit_scorecard",
        "decide",
        "offer_slots",
        "pick_slot",
        "release_feedback",
        "complete_module",
        "withdraw",
    ]
    missing = [update for update in every_update if update not in said]
    assert not missing, f"no recorded history sends the updates {missing}"
    text = "\n".join(said)
    for email in ("decision-escalation-", "decision-reminder-", "scheduling-missed-", "slots-offered-"):
        assert email in text, f"no recorded history sends the '{email}' email"


@pytest.mark.skipif(
    not os.environ.get("OFFHOURS_RECORD_HISTORIES"), reason="set OFFHOURS_RECORD_HISTORIES=1 to record"
)
def test_record_histories() -> None:
    """Record the scenarios whose history is missing (=1), or all of them again (=overwrite, only
    while no deployment runs code older than the current one)."""
    HISTORIES.mkdir(exist_ok=True)
    overwrite = os.environ.get("OFFHOURS_RECORD_HISTORIES") == "overwrite"
    world = World()
    try:
        for name, (pipeline_name, scenario, expected) in SCENARIOS.items():
            if (HISTORIES / f"{name}.json").exists() and not overwrite:
                continue
            pipeline = TEST_PIPELINES.get(pipeline_name) or PIPELINES[pipeline_name]
            run = world.run(start(world, pipeline))
            world.run(scenario(run), timeout=300)
            state, running = world.run(run.state())
            assert not running, (name, state)
            assert state.status == expected, (name, state)
            world.run(_save(world, run, name))
    finally:
        world.close()


async def _save(world: World, run: Run, name: str) -> None:
    """Saved decrypted (as `offhours audit export` writes them), so they replay without keys."""
    client = world.client
    workflow_id = f"application-{run.application_id}"
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(json.dumps(await export(client, workflow_id)) + "\n")
    children = [
        e.child_workflow_execution_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]
    privacy = f"privacy-{run.application_id}"
    with contextlib.suppress(RPCError):  # not every scenario has a privacy workflow
        (HISTORIES / f"{name}--privacy.json").write_text(json.dumps(await export(client, privacy)) + "\n")
    for n, child in enumerate(children, start=1):
        kind = re.sub(r"(?<!^)(?=[A-Z])", "-", child.workflow_type.name).lower()  # ReviewTask -> review-task
        exported = await export(client, child.workflow_execution.workflow_id)
        (HISTORIES / f"{name}--{kind}-{n}.json").write_text(json.dumps(exported) + "\n")


def test_every_patch_has_a_recorded_history_that_took_it() -> None:
    """Each `workflow.patched` id in the workflow code is in some recorded history's markers, so the
    new path is replayed too, not only the old one."""
    source = "\n".join(p.read_text() for p in Path(WORKFLOWS_DIR).rglob("*.py"))
    patches = set(re.findall(r"workflow\.patched\(\s*\"([^\"]+)\"", source))
    assert patches, "the patch ids could not be found in workflows/"
    markers = {
        json.loads(text)["id"]
        for path in corpus()
        for text in _said(json.loads(path.read_text()))
        if text.startswith('{"id":') and '"deprecated"' in text
    }
    assert patches <= markers, f"patches with no recorded history on their new path: {patches - markers}"
