"""Custom stages registered by ops: a child workflow (ReferenceCheck) that waits for a recorded
outcome, and the registry kept in step with the worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from activities import build_activities
from offhours.contracts import ApplicationState
from pipelines import registry
from pipelines.base import Pipeline
from pipelines.custom import CUSTOM_ACTIVITIES, CUSTOM_WORKFLOWS
from pipelines.registry import PIPELINES, PipelineError
from pipelines.stages import Criterion, Custom, Decision, Interview, Invite, Question, Review
from tests.support.actors import STAFF, unique_email
from tests.support.mail import token_from
from tests.support.stack import Stack
from workflows import WORKFLOWS

ANCHORS = ("1", "2", "3", "4", "5")
CONTACT = "ruth.mensah@example.org"


def reference_pipeline(name: str) -> Pipeline:
    return Pipeline(
        name,
        "With references",
        stages=(
            Invite(),
            Interview(questions=(Question("why", "Why?"),)),
            Review(criteria=(Criterion("skill", "Skill", ANCHORS),)),
            Custom(id="references", workflow="ReferenceCheck"),
            Decision(sla=None),
        ),
        contact="ruth",
    )


async def at_references(stack: Stack, monkeypatch: pytest.MonkeyPatch, name: str) -> tuple[str, str]:
    monkeypatch.setitem(PIPELINES, name, registry.validate(reference_pipeline(name)))
    job = await stack.create_job("Staff engineer", pipeline=name)
    address = unique_email()
    application = await stack.invite(job["id"], address, name="Mary Jackson")
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    c = f"/api/v1/candidate/{token}"
    assert (
        await stack.http.post(f"{c}/answers", json={"question_id": "why", "text": "Because."})
    ).status_code == 200
    assert (await stack.http.post(f"{c}/submit")).status_code == 200
    await stack.wait_status(application["id"], "in_review")
    card = {"overall_recommendation": "yes", "ratings": {"skill": 4}}
    scored = await stack.http.post(
        f"/api/v1/applications/{application['id']}/scorecards",
        json=card,
        headers=await stack.as_reviewer(application["id"]),
    )
    assert scored.status_code == 201, scored.text
    [ask] = await stack.mailbox.wait_for(CONTACT, 1)
    assert ask.subject == f"Reference check: Staff engineer (application {application['id']})"
    assert "Mary" not in ask.text
    assert address not in ask.text
    return application["id"], address


async def outcome(stack: Stack, application_id: str, body: dict[str, Any]) -> Any:
    return await stack.http.post(
        f"/api/v1/applications/{application_id}/stages/references/outcome", json=body, headers=STAFF
    )


async def test_a_recorded_outcome_continues_to_the_decision(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    application_id, _ = await at_references(stack, monkeypatch, "t-references-ok")
    assert (await outcome(stack, application_id, {"outcome": "maybe"})).status_code == 422
    response = await outcome(stack, application_id, {"outcome": "continue", "note": "Two strong references."})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "awaiting_decision"
    assert response.json()["stage"] == "decision"
    again = await outcome(stack, application_id, {"outcome": "reject"})
    assert again.status_code == 409
    decided = await stack.http.post(
        f"/api/v1/applications/{application_id}/decision", json={"decision": "approve"}, headers=STAFF
    )
    assert decided.status_code == 200, decided.text


async def test_a_rejecting_outcome_rejects_with_the_email(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    application_id, address = await at_references(stack, monkeypatch, "t-references-reject")
    response = await outcome(stack, application_id, {"outcome": "reject"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert response.json()["decided_by"] == "custom:ReferenceCheck"
    mails = await stack.mailbox.wait_for(address, 3)
    assert mails[-1].subject == "Your application for Staff engineer"


async def test_no_outcome_within_two_weeks_continues(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    application_id, _ = await at_references(stack, monkeypatch, "t-references-silent")
    await stack.env.sleep(timedelta(days=13))
    state = await stack.workflow(application_id).query("state", result_type=ApplicationState)
    assert state.stage == "references"
    await stack.env.sleep(timedelta(days=1, hours=1))
    decision = await stack.wait_status(application_id, "awaiting_decision")
    assert decision["stage"] == "decision"


async def test_withdrawal_during_the_check_ends_the_child_too(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    application_id, address = await at_references(stack, monkeypatch, "t-references-withdrawn")
    withdrawn = await stack.http.post(
        f"/api/v1/applications/{application_id}/withdraw", json={}, headers=STAFF
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await stack.mailbox.wait_for(address, 3)
    child = stack.client.get_workflow_handle(f"custom-{application_id}-references")
    for _ in range(100):
        if (await child.describe()).status != WorkflowExecutionStatus.RUNNING:
            break
        await stack.mailbox.settle(0.05)
    assert (await child.describe()).status == WorkflowExecutionStatus.CANCELED
    late = await outcome(stack, application_id, {"outcome": "continue"})
    assert late.status_code == 409


async def test_unknown_custom_stage_is_404(skipping_stack: Stack) -> None:
    stack = skipping_stack
    job = await stack.create_job()
    application = await stack.invite(job["id"])
    response = await outcome(stack, application["id"], {"outcome": "continue"})
    assert response.status_code == 404
    assert "references" in response.json()["detail"]


def test_registered_custom_stages_run_on_the_worker(tmp_path: Any) -> None:
    from offhours.db import make_engine
    from offhours.settings import load_settings

    settings = load_settings(
        ENVIRONMENT="test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        SECRET_KEY="custom-stages-secret-key-0123456789abcdef",
    )
    names = {
        getattr(fn, "__temporal_activity_definition").name
        for fn in build_activities(make_engine(settings.DATABASE_URL), settings)
    }
    assert names >= CUSTOM_ACTIVITIES
    assert {getattr(w, "__temporal_workflow_definition").name for w in WORKFLOWS} >= CUSTOM_WORKFLOWS


def test_a_custom_stage_names_exactly_one_registered_activity_or_workflow() -> None:
    base = reference_pipeline("t-custom-validation")
    for custom, expected in (
        (Custom(id="c"), "exactly one of the two"),
        (
            Custom(id="c", activity="notify_hiring_manager", workflow="ReferenceCheck"),
            "exactly one of the two",
        ),
        (Custom(id="c", workflow="BackgroundCheck"), "workflow 'BackgroundCheck' is not registered"),
    ):
        broken = Pipeline(base.name, base.title, (*base.stages[:3], custom, base.stages[4]), contact="ruth")
        with pytest.raises(PipelineError) as error:
            registry.validate(broken)
        assert any(expected in p for p in error.value.problems), error.value.problems
