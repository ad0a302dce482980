"""Property test: any valid pipeline, driven by any order of candidate, staff and clock events,
reaches a terminal state with no workflow task failure and no 5xx from the API.

Hypothesis draws the pipeline and, step by step, the next event. The product runs in a background
event loop (time-skipping Temporal server, a worker, SQLite, SMTP), so that hypothesis, which is
synchronous, can drive it from the test thread.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

import pipelines
from api.app import create_app
from offhours.binaries import temporal_test_server
from offhours.contracts import ApplicationState
from offhours.db import make_engine
from offhours.links import make_candidate_token
from offhours.migrate import upgrade
from offhours.settings import load_settings
from pipelines.base import Pipeline
from pipelines.people import POOLS
from pipelines.stages import (
    DAY,
    HOUR,
    MINUTE,
    Assessment,
    CheckIn,
    Criterion,
    Decision,
    Extensions,
    Feedback,
    GradedQuestion,
    Interview,
    Invite,
    Module,
    Onboarding,
    Question,
    Reminders,
    Review,
    Scheduling,
)
from tests.conftest import ADMIN_TOKEN, Mailbox, _Handler, free_port
from workers import build_worker

T = TypeVar("T")
NAMES = itertools.count(1)
STAFF = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TERMINAL = {"approved", "rejected", "expired", "withdrawn"}
ANCHORS = ("Poor", "Weak", "Fair", "Good", "Excellent")

# ------------------------------------------------------------------------------------ pipelines


@st.composite
def valid_pipelines(draw: st.DrawFn) -> Pipeline:
    deadline = draw(st.sampled_from([2 * DAY, 5 * DAY, 7 * DAY]))
    reminders = tuple(sorted(draw(st.sets(st.sampled_from([HOUR, DAY]), max_size=2)), reverse=True))
    auto = draw(st.sampled_from([0, HOUR, DAY]))
    stages: list[Any] = [
        Invite(
            deadline=deadline,
            reminders=Reminders(before_deadline=reminders),
            extensions=Extensions(auto_grant=auto, max_total=auto + draw(st.sampled_from([0, DAY]))),
        )
    ]
    questions = [Question("q-text", "Tell us something.")]
    if draw(st.booleans()):
        questions.append(Question("q-choice", "Pick one.", "choice", choices=("A", "B")))
    if draw(st.booleans()):
        questions.append(Question("q-optional", "Anything else?", required=False))
    stages.append(Interview(questions=tuple(questions)))
    if draw(st.booleans()):
        stages.append(
            Assessment(
                questions=(
                    GradedQuestion("g-num", "2+2?", "numeric", "4"),
                    GradedQuestion(
                        "g-choice", "Capital of France?", "choice", "Paris", choices=("Paris", "Rome")
                    ),
                ),
                pass_mark=draw(st.sampled_from([0.5, 1.0])),
                time_limit=30 * MINUTE,
                on_fail=draw(st.sampled_from(["reject", "inform"])),
            )
        )
    pool = draw(st.sampled_from(sorted(POOLS)))
    reviewers = draw(st.integers(1, min(2, len(POOLS[pool].members))))
    advance = draw(st.sampled_from([None, 4.5]))
    reject = draw(st.sampled_from([None, 2.0]))
    stages.append(
        Review(
            pool=pool,
            reviewers=reviewers,
            criteria=(Criterion("skill", "Skill", ANCHORS, 2.0), Criterion("care", "Care", ANCHORS)),
            sla=DAY,
            reminder_before_sla=6 * HOUR,
            max_reassignments=1,
            combine=draw(st.sampled_from(["weighted_mean", "median"])),
            auto_advance_at=advance,
            auto_reject_below=reject,
        )
    )
    if draw(st.booleans()):
        stages.append(Scheduling(pick_within=2 * DAY, reminder_before_slot=HOUR))
    approvers = draw(st.sampled_from([(), ("kai", "ruth"), ("kai", "ruth", "noor")]))
    stages.append(
        Decision(
            approvals_required=draw(st.integers(1, len(approvers))) if approvers else 1,
            approvers=approvers,
            sla=2 * DAY,
            reminder_before_sla=DAY,
            escalate_to="lee",
        )
    )
    if draw(st.booleans()):
        stages.append(Feedback(next_steps="Keep going.", hold_for_edit=draw(st.booleans())))
    if draw(st.booleans()):
        stages.append(Onboarding(modules=(Module("m1", "One", 3 * DAY), Module("m2", "Two", 5 * DAY))))
    check_in = CheckIn(promised_response=DAY, every=DAY) if draw(st.booleans()) else None
    name = f"random-{next(NAMES)}"
    return pipelines.validate(Pipeline(name, "Random", tuple(stages), check_in=check_in, contact="jo"))


# ------------------------------------------------------------------------------------ the product


class World:
    """The product on its own event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tmp = Path(tempfile.mkdtemp(prefix="offhours-prop-"))
        self.mailbox = Mailbox()
        self.smtp = Controller(_Handler(self.mailbox), hostname="127.0.0.1", port=free_port())
        self.smtp.start()
        self.settings = load_settings(
            ENVIRONMENT="test",
            DATABASE_URL=f"sqlite:///{self.tmp / 'db.sqlite'}",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=self.smtp.port,
            SECRET_KEY="property-test-secret-key-0123456789abcdef",
            ADMIN_TOKEN=ADMIN_TOKEN,
            DATA_DIR=self.tmp / "data",
            TASK_QUEUE=f"prop-{uuid.uuid4().hex[:8]}",
            PUBLIC_URL="http://offhours.test",
        )
        upgrade(self.settings.DATABASE_URL)
        self.engine = make_engine(self.settings.DATABASE_URL)
        self.run(self._start())

    async def _start(self) -> None:
        self.env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=temporal_test_server()
        )
        self.worker = build_worker(self.env.client, self.settings, self.engine)
        self.worker_task = asyncio.create_task(self.worker.run())
        app = create_app(self.settings, temporal_client=self.env.client, engine=self.engine)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://offhours.test")

    async def _stop(self) -> None:
        await self.http.aclose()
        await self.worker.shutdown()
        await self.env.shutdown()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self._stop())
        self.smtp.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.engine.dispose()


@pytest.fixture(scope="module")
def world() -> Any:
    w = World()
    try:
        yield w
    finally:
        w.close()


@dataclass
class Run:
    world: World
    pipeline: Pipeline
    application_id: str
    token: str

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # Staff credentials on every call: candidate routes ignore them, staff routes need them.
        response = await self.world.http.request(method, path, headers=STAFF, **kwargs)
        assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.text}"
        return response

    async def state(self) -> tuple[ApplicationState, bool]:
        handle = self.world.env.client.get_workflow_handle(f"application-{self.application_id}")
        description = await handle.describe()
        running = description.status == WorkflowExecutionStatus.RUNNING
        state = await handle.query("state", result_type=ApplicationState)
        return state, running

    def stage(self, stage_id: str) -> Any:
        return next((s for s in self.pipeline.stages if s.id == stage_id), None)


async def start(world: World, pipeline: Pipeline) -> Run:
    pipelines.PIPELINES[pipeline.name] = pipeline
    job = await world.http.post(
        "/api/v1/jobs", json={"title": "Random role", "pipeline": pipeline.name}, headers=STAFF
    )
    assert job.status_code == 201, job.text
    created = await world.http.post(
        "/api/v1/applications",
        json={
            "job_id": job.json()["id"],
            "candidate": {"name": "Pat", "email": f"{uuid.uuid4().hex[:10]}@example.com", "timezone": "UTC"},
        },
        headers=STAFF,
    )
    assert created.status_code == 201, created.text
    application_id = created.json()["id"]
    token = make_candidate_token(
        application_id, datetime.now(UTC) + timedelta(days=400), world.settings.secret_key
    )
    return Run(world, pipeline, application_id, token)


def actions(run: Run, state: ApplicationState) -> list[tuple[str, Any]]:
    """Every event that could plausibly happen next, valid or not; the product must cope with each."""
    c = f"/api/v1/candidate/{run.token}"
    a = f"/api/v1/applications/{run.application_id}"
    options: list[tuple[str, Any]] = [("sleep", h) for h in (1, 12, 30, 80)]
    options += [
        ("POST", (f"{c}/answers", {"question_id": q, "text": "A"}))
        for q in ("q-text", "q-choice", "q-optional")
    ]
    options += [("POST", (f"{c}/submit", None)), ("POST", (f"{c}/extension", {"hours": 12}))]
    options += [("POST", (f"{c}/assessment/start", None)), ("POST", (f"{c}/assessment/submit", None))]
    options += [
        ("POST", (f"{c}/assessment/answers", {"question_id": q, "value": v}))
        for q, v in (("g-num", "4"), ("g-choice", "Rome"))
    ]
    for reviewer in [*state.reviewers, "nobody"]:
        for rating in (1, 3, 5):
            card = {
                "reviewer_id": reviewer,
                "overall_recommendation": "yes",
                "ratings": {"skill": rating, "care": rating},
            }
            options.append(("POST", (f"{a}/scorecards", card)))
    for voter in ("kai", "ruth", "noor", None):
        for decision in ("approve", "reject"):
            options.append(("POST", (f"{a}/decision", {"decision": decision, "approver_id": voter})))
    soon = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
    options += [("POST", (f"{a}/slots", {"slots": [soon]})), ("POST", (f"{c}/slot", {"slot": soon}))]
    options += [("POST", (f"{a}/feedback/release", {})), ("POST", (f"{a}/extension", {"grant": True}))]
    options += [("POST", (f"{c}/modules/{m}/complete", None)) for m in ("m1", "m2")]
    options.append(("POST", (f"{a}/withdraw", {})))
    return options


async def perform(run: Run, action: tuple[str, Any]) -> None:
    kind, payload = action
    if kind == "sleep":
        await run.world.env.sleep(timedelta(hours=payload))
        await asyncio.sleep(0.05)
        return
    path, body = payload
    if body is None:
        await run.request("POST", path)
    else:
        await run.request("POST", path, json={k: v for k, v in body.items() if v is not None})


async def finish(run: Run) -> ApplicationState:
    """Push the application to its end with events that are always sensible, then return its state."""
    c = f"/api/v1/candidate/{run.token}"
    a = f"/api/v1/applications/{run.application_id}"
    for _ in range(60):
        state, running = await run.state()
        if not running:
            return state
        stage = run.stage(state.stage)
        kind = stage.kind if stage is not None else ""
        if state.status in ("invited", "in_progress"):
            for q in ("q-text", "q-choice", "q-optional"):
                await run.request("POST", f"{c}/answers", json={"question_id": q, "text": "A"})
            await run.request("POST", f"{c}/submit")
            await run.request("POST", f"{c}/assessment/start")
            await run.request("POST", f"{c}/assessment/submit")
        for reviewer in state.reviewers:
            card = {
                "reviewer_id": reviewer,
                "overall_recommendation": "yes",
                "ratings": {"skill": 3, "care": 3},
            }
            await run.request("POST", f"{a}/scorecards", json=card)
        if kind == "decision":
            for voter in stage.approvers or (None,):
                body = {"decision": "approve"} | ({"approver_id": voter} if voter else {})
                await run.request("POST", f"{a}/decision", json=body)
        if kind == "scheduling" and not state.slots:
            soon = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
            await run.request("POST", f"{a}/slots", json={"slots": [soon]})
        await run.request("POST", f"{a}/feedback/release", json={})
        for m in ("m1", "m2"):
            await run.request("POST", f"{c}/modules/{m}/complete")
        await run.world.env.sleep(timedelta(days=4000 if kind == "scheduling" else 3))
        await asyncio.sleep(0.05)
    raise AssertionError(f"application did not finish: {await run.state()}")


async def no_workflow_task_failures(run: Run) -> None:
    handle = run.world.env.client.get_workflow_handle(f"application-{run.application_id}")
    history = await handle.fetch_history()
    # UNHANDLED_COMMAND is the server asking the worker to redo a task because new events (an
    # update, a signal) arrived meanwhile: routine. Anything else is our code failing.
    failed = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        and e.workflow_task_failed_event_attributes.cause
        != WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND
    ]
    assert not failed, failed[0].workflow_task_failed_event_attributes.failure.message


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(pipeline=valid_pipelines(), data=st.data())
def test_any_pipeline_and_event_order_ends_cleanly(
    world: World, pipeline: Pipeline, data: st.DataObject
) -> None:
    run = world.run(start(world, pipeline))
    try:
        for _ in range(data.draw(st.integers(0, 12), label="events")):
            state, running = world.run(run.state())
            if not running:
                break
            world.run(perform(run, data.draw(st.sampled_from(actions(run, state)), label="event")))
        final = world.run(finish(run), timeout=300)
        assert final.status in TERMINAL, final
        world.run(no_workflow_task_failures(run))
    finally:
        pipelines.PIPELINES.pop(pipeline.name, None)
