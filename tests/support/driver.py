"""Drive applications through the product from a synchronous caller: the product (time-skipping
Temporal server, worker, SQLite, SMTP, the ASGI app) runs on its own event loop in a background
thread. Used by the property test and by the recorder of the replay corpus."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import uuid
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from offhours.contracts import ApplicationState
from offhours.db import make_engine
from offhours.links import make_candidate_token
from offhours.migrate import upgrade
from offhours.settings import load_settings
from pipelines import registry
from pipelines.base import Pipeline
from pipelines.stages import RECORDED, Assessment, Interview, Onboarding, Review
from tests.support.actors import ADMIN_TOKEN, STAFF, person_headers
from tests.support.mail import Mailbox, smtp_port, start_smtp
from tests.support.samples import PDF, webm
from tests.support.stack import free_port, open_stack
from tools.binaries import temporal_test_server

T = TypeVar("T")
TERMINAL = {"approved", "rejected", "expired", "withdrawn"}


# ------------------------------------------------------------------------------------ the product


class World:
    """The product (the same stack the fixtures start) on its own event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tmp = Path(tempfile.mkdtemp(prefix="offhours-prop-"))
        self.mailbox = Mailbox()
        self.smtp = start_smtp(self.mailbox, free_port())
        self.settings = load_settings(
            ENVIRONMENT="test",
            DATABASE_URL=f"sqlite:///{self.tmp / 'db.sqlite'}",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=smtp_port(self.smtp),
            SECRET_KEY="property-test-secret-key-0123456789abcdef",
            ADMIN_TOKEN=ADMIN_TOKEN,
            DATA_DIR=self.tmp / "data",
            TASK_QUEUE=f"prop-{uuid.uuid4().hex[:8]}",
            PUBLIC_URL="http://offhours.test",
            # One client address drives hundreds of applications here: no per-address limit applies.
            CANDIDATE_RATE_LIMIT="1000000/minute",
        )
        upgrade(self.settings.DATABASE_URL)
        self.engine = make_engine(self.settings.DATABASE_URL)
        self._people: dict[str, dict[str, str]] = {}
        self.run(self._start())

    @property
    def env(self) -> WorkflowEnvironment:
        return self.stack.env

    @property
    def client(self) -> Client:
        return self.stack.client

    @property
    def http(self) -> httpx.AsyncClient:
        return self.stack.http

    def as_person(self, person_id: str) -> dict[str, str]:
        """Headers for an ops account linked to a person of the staff directory (created once, kept
        across restarts): only such accounts score and cast approvers' votes, as themselves."""
        if person_id not in self._people:
            self._people[person_id] = person_headers(self.engine, person_id, "driver")
        return self._people[person_id]

    async def _start(self) -> None:
        env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=temporal_test_server())
        self._running = AsyncExitStack()
        self._running.push_async_callback(env.shutdown)
        self.stack = await self._running.enter_async_context(
            open_stack(env, self.settings, self.engine, self.mailbox)
        )

    async def _stop(self) -> None:
        await self._running.aclose()

    def restart(self) -> None:
        """A fresh time-skipping server and worker (same database and mailbox): one example's
        leftovers never hold up the next one's clock."""
        self.run(self._stop())
        self.run(self._start())

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self._stop())
        self.smtp.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.engine.dispose()


@dataclass
class Run:
    world: World
    pipeline: Pipeline
    application_id: str
    token: str

    async def request(
        self, method: str, path: str, *, as_person: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        # Staff credentials on every call: candidate routes ignore them, staff routes need them.
        # Scorecards and approvers' votes go as the directory person (`as_person`) named in them.
        headers = self.world.as_person(as_person) if as_person else STAFF
        response = await self.world.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.text}"
        return response

    async def state(self) -> tuple[ApplicationState, bool]:
        handle = self.world.client.get_workflow_handle(f"application-{self.application_id}")
        description = await handle.describe()
        running = description.status == WorkflowExecutionStatus.RUNNING
        state = await handle.query("state", result_type=ApplicationState)
        return state, running

    def stage(self, stage_id: str) -> Any:
        return next((s for s in self.pipeline.stages if s.id == stage_id), None)


async def start(world: World, pipeline: Pipeline) -> Run:
    registry.PIPELINES[pipeline.name] = pipeline
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


# Every event that could plausibly happen, valid or not, independent of the application's state
# (so that a property test can draw them all up front); perform() resolves each against the state.
EVENTS: list[tuple[str, Any]] = [
    *[("sleep", hours) for hours in (1, 12, 30, 80)],
    *[("answer", q) for q in ("q-text", "q-choice", "q-optional")],
    ("submit", None),
    ("extension", 12),
    ("assessment-start", None),
    ("assessment-submit", None),
    *[("assessment-answer", qv) for qv in (("g-num", "4"), ("g-choice", "Rome"))],
    *[("scorecard", (who, rating)) for who in ("open", "nobody") for rating in (1, 3, 5)],
    *[("decide", (voter, d)) for voter in ("kai", "ruth", "noor", None) for d in ("approve", "reject")],
    ("offer-slots", None),
    ("pick-slot", None),
    ("release-feedback", None),
    ("grant-extension", None),
    *[("complete-module", m) for m in ("m1", "m2")],
    ("withdraw", None),
]


async def perform(run: Run, event: tuple[str, Any]) -> None:  # noqa: C901 (one branch per kind of event, read as a table)
    kind, value = event
    c = f"/api/v1/candidate/{run.token}"
    a = f"/api/v1/applications/{run.application_id}"
    if kind == "sleep":
        await run.world.env.sleep(timedelta(hours=value))
        await asyncio.sleep(0.05)
        return
    state, _ = await run.state()
    later = (datetime.now(UTC) + timedelta(days=3650)).isoformat()  # after any clock the test skips to
    body: dict[str, Any] | None = None
    person: str | None = None  # who the call is made as, when not ADMIN_TOKEN
    if kind == "answer":
        path, body = f"{c}/answers", {"question_id": value, "text": "A"}
    elif kind == "submit":
        path = f"{c}/submit"
    elif kind == "extension":
        path, body = f"{c}/extension", {"hours": value}
    elif kind == "assessment-start":
        path = f"{c}/assessment/start"
    elif kind == "assessment-submit":
        path = f"{c}/assessment/submit"
    elif kind == "assessment-answer":
        path, body = f"{c}/assessment/answers", {"question_id": value[0], "value": value[1]}
    elif kind == "scorecard":
        who, rating = value
        reviewer = (state.reviewers or ["nobody"])[0] if who == "open" else who
        ratings = {"skill": rating, "care": rating}
        path, body = (
            f"{a}/scorecards",
            {"reviewer_id": reviewer, "overall_recommendation": "yes", "ratings": ratings},
        )
        person = reviewer  # "nobody": an account linked to no one assigned, refused by the workflow
    elif kind == "decide":
        voter, decision = value
        path, body = f"{a}/decision", {"decision": decision} | ({"approver_id": voter} if voter else {})
        person = voter
    elif kind == "offer-slots":
        path, body = f"{a}/slots", {"slots": [later]}
    elif kind == "pick-slot":
        path, body = f"{c}/slot", {"slot": state.slots[0].isoformat() if state.slots else later}
    elif kind == "release-feedback":
        path, body = f"{a}/feedback/release", {}
    elif kind == "grant-extension":
        path, body = f"{a}/extension", {"grant": True}
    elif kind == "complete-module":
        path = f"{c}/modules/{value}/complete"
    else:
        path, body = f"{a}/withdraw", {}
    if body is None:
        await run.request("POST", path, as_person=person)
    else:
        await run.request("POST", path, as_person=person, json=body)


async def answer_everything(run: Run, *, pass_assessment: bool = True) -> None:
    """The candidate answers every interview question, submits, and takes any assessment."""
    c = f"/api/v1/candidate/{run.token}"
    for stage in run.pipeline.stages:
        if isinstance(stage, Interview):
            if any(q.type in RECORDED for q in stage.questions):
                version = (await run.request("GET", c)).json()["consent_version"]
                await run.request("POST", f"{c}/consent", json={"version": version})
            for q in stage.questions:
                if q.timed:
                    await run.request("POST", f"{c}/questions/{q.id}/open")
                if q.type in ("file", "video", "audio"):
                    upload = (
                        ("answer.pdf", PDF)
                        if q.type == "file"
                        else ("answer.webm", webm(1.0, q.type == "video"))
                    )
                    files = {"file": upload}
                    await run.request("POST", f"{c}/answers", data={"question_id": q.id}, files=files)
                else:
                    text = q.choices[0] if q.type == "choice" else "An answer."
                    await run.request("POST", f"{c}/answers", json={"question_id": q.id, "text": text})
            await run.request("POST", f"{c}/submit")
        if isinstance(stage, Assessment):
            await run.request("POST", f"{c}/assessment/start")
            for g in stage.questions:
                value = g.answer if pass_assessment else "not the answer"
                await run.request(
                    "POST", f"{c}/assessment/answers", json={"question_id": g.id, "value": value}
                )
            await run.request("POST", f"{c}/assessment/submit")


async def finish(run: Run, decision: str = "approve", rating: int = 3) -> ApplicationState:
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
            await answer_everything(run)
        review = next((s for s in run.pipeline.stages if isinstance(s, Review) and s.id == state.stage), None)
        for reviewer in state.reviewers if review else ():
            ratings = {criterion.id: rating for criterion in review.criteria}  # type: ignore[union-attr]
            card = {"reviewer_id": reviewer, "overall_recommendation": "yes", "ratings": ratings}
            await run.request("POST", f"{a}/scorecards", as_person=reviewer, json=card)
        if kind == "decision" and state.status == "awaiting_decision":
            for voter in stage.approvers or (None,):
                body = {"decision": decision} | ({"approver_id": voter} if voter else {})
                await run.request("POST", f"{a}/decision", as_person=voter, json=body)
        if kind == "scheduling" and state.booked_slot is None:
            if not state.slots:
                slot = await run.world.env.get_current_time() + timedelta(days=2)
                await run.request("POST", f"{a}/slots", json={"slots": [slot.isoformat()]})
                state, _ = await run.state()
            if state.slots:
                await run.request("POST", f"{c}/slot", json={"slot": state.slots[0].isoformat()})
        if kind == "custom" and stage.workflow:
            await run.request("POST", f"{a}/stages/{stage.id}/outcome", json={"outcome": "continue"})
        await run.request("POST", f"{a}/feedback/release", json={})
        onboarding = next((s for s in run.pipeline.stages if isinstance(s, Onboarding)), None)
        for module in onboarding.modules if onboarding and kind == "onboarding" else ():
            await run.request("POST", f"{c}/modules/{module.id}/complete")
        await run.world.env.sleep(timedelta(days=3))
        await asyncio.sleep(0.05)
    raise AssertionError(f"application did not finish: {await run.state()}")


async def no_workflow_task_failures(run: Run) -> None:
    handle = run.world.client.get_workflow_handle(f"application-{run.application_id}")
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
