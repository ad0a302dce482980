"""Benchmark: the analytics API and dashboard over a large read model.

Seeds a migrated database (SQLite in a temporary directory by default; `--database-url` for
PostgreSQL) with N applications (default 100,000) spread over 10 jobs, with what their workflows
would have written: stage transitions, answers, review assignments and scorecard ratings (two
reviewers of six), reminder emails and self-identification. Then calls each analytics endpoint
through the real FastAPI app (httpx.ASGITransport: routing, authentication, policy, serialisation)
and the dashboard page, for one job (~N/10 applications) and for every job (N), `--repeat` times
each, and reports the median and worst time.

Baselines measured in the same run, on the same app and database: `GET /api/v1/pipelines` (the request
path with authentication, no query) and `GET /api/v1/jobs` (a tiny query). Figures are reported in milliseconds
and as ratios to the /api/v1/jobs baseline; results go to bench/results/analytics.json.

Run from the repository root:  .venv/bin/python bench/bench_analytics.py [--applications 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from activities import rollups
from api.app import create_app
from offhours.db import make_engine
from offhours.migrate import upgrade
from offhours.models import (
    Answer,
    Application,
    Candidate,
    EmailMessage,
    Job,
    ReviewAssignment,
    ScorecardRating,
    SelfIdentification,
    StageTransition,
)
from offhours.settings import load_settings
from pipelines.registry import get_pipeline

RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
METRICS = ("funnel", "stages", "questions", "reminders", "reviewers", "agreement", "adverse-impact")
REVIEWERS = ("ana", "lee", "jo", "kai", "ruth", "noor")
SEXES = ("female", "male", "declined")
RACES = ("hispanic_or_latino", "white", "black_or_african_american", "asian", "two_or_more", "declined")
CRITERIA = ("communication", "relevant_experience", "motivation")
QUESTIONS = ("motivation", "experience", "cv")
START = datetime(2026, 1, 1, tzinfo=UTC)


class Rows:
    """Rows per table, flushed in batches with executemany."""

    def __init__(self, engine: Engine, batch: int = 20_000) -> None:
        self.engine, self.batch = engine, batch
        self.pending: dict[Any, list[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}

    def add(self, model: Any, **row: Any) -> None:
        rows = self.pending.setdefault(model, [])
        rows.append(row)
        if len(rows) >= self.batch:
            self.flush(model)

    def flush(self, model: Any = None) -> None:
        """Write the pending rows of `model` (all, if None), parents first (foreign keys)."""
        tables = [model] if model is not None else list(self.pending)
        if model not in (Candidate, Application, Job):
            tables = [
                t for t in (Job, Candidate, Application) if t in self.pending and t not in tables
            ] + tables
        for table in tables:
            rows = self.pending.get(table) or []
            if rows:
                with self.engine.begin() as connection:
                    connection.execute(insert(table), rows)
                self.counts[table.__tablename__] = self.counts.get(table.__tablename__, 0) + len(rows)
            self.pending[table] = []


def application_rows(
    i: int, job_id: str, rng: random.Random, snapshot: dict[str, Any], version: str
) -> list[tuple[Any, dict[str, Any]]]:
    """What the workflows of one application would have written: its rows, parents first."""
    app_id, cand_id = f"app_{i:012d}", f"cnd_{i:012d}"
    invited = START + timedelta(minutes=5 * i)
    children: list[tuple[Any, dict[str, Any]]] = []
    state = {"seq": 0, "stage": "invite", "status": "invited", "since": invited}

    def move(to_stage: str, to_status: str, at: datetime) -> None:
        state["seq"] = seq = int(state["seq"]) + 1  # type: ignore[call-overload]
        since: datetime = state["since"]  # type: ignore[assignment]
        moved = seq == 1 or to_stage != state["stage"]
        children.append(
            (
                StageTransition,
                {
                    "application_id": app_id,
                    "seq": seq,
                    "job_id": job_id,
                    "pipeline_name": "standard",
                    "invited_at": invited,
                    "from_stage": None if seq == 1 else state["stage"],
                    "from_status": None if seq == 1 else state["status"],
                    "to_stage": to_stage,
                    "to_status": to_status,
                    "at": at,
                    "stage_since": at if moved else since,
                    "stay_seconds": (at - since).total_seconds() if moved and seq > 1 else None,
                    "since_invite_seconds": (at - invited).total_seconds(),
                },
            )
        )
        if moved:
            state["since"] = at
        state["stage"], state["status"] = to_stage, to_status

    opened = rng.random() < 0.85
    started = opened and rng.random() < 0.88
    submitted = started and rng.random() < 0.8
    t = invited
    closed_at = started_at = submitted_at = decided_at = None
    decision = None
    final = "invited"
    move("invite", "invited", t)
    for k in range(rng.choice((0, 1, 1, 2, 2, 2))):
        children.append(
            (
                EmailMessage,
                {
                    "application_id": app_id,
                    "message_key": f"reminder-{k}",
                    "message_id": f"<{app_id}-{k}@bench>",
                    "template": "reminder",
                    "recipient": "x@example.test",
                    "subject": "Reminder",
                    "status": "sent",
                    "created_at": invited,
                    "sent_at": invited + timedelta(days=2 + 2 * k),
                },
            )
        )
    if started:
        t += timedelta(hours=rng.uniform(1, 48))
        started_at = t
        move("invite", "in_progress", t)
        answered = len(QUESTIONS) if submitted else rng.randint(1, len(QUESTIONS) - 1)
        for q in QUESTIONS[:answered]:
            t += timedelta(minutes=rng.uniform(5, 120))
            children.append(
                (Answer, {"application_id": app_id, "question_id": q, "kind": "text", "answered_at": t})
            )
    if submitted:
        t += timedelta(hours=rng.uniform(1, 96))
        submitted_at = t
        move("interview", "submitted", t)
        t += timedelta(seconds=1)
        move("review", "in_review", t)
        quality = rng.gauss(3, 1)
        for reviewer in rng.sample(REVIEWERS, 2):
            done = rng.random() < 0.95
            scored = t + timedelta(hours=rng.uniform(2, 72))
            children.append(
                (
                    ReviewAssignment,
                    {
                        "application_id": app_id,
                        "stage_id": "review",
                        "reviewer": reviewer,
                        "status": "completed" if done else "assigned",
                        "assigned_at": t,
                        "due_at": t + timedelta(days=2),
                        "closed_at": scored if done else None,
                    },
                )
            )
            if done:
                for criterion in CRITERIA:
                    children.append(
                        (
                            ScorecardRating,
                            {
                                "application_id": app_id,
                                "job_id": job_id,
                                "pipeline_name": "standard",
                                "invited_at": invited,
                                "stage_id": "review",
                                "reviewer": reviewer,
                                "criterion": criterion,
                                "rating": min(5, max(1, round(quality + rng.gauss(0, 0.8)))),
                            },
                        )
                    )
        if rng.random() < 0.9:
            t += timedelta(hours=rng.uniform(24, 96))
            move("decision", "awaiting_decision", t)
            t += timedelta(hours=rng.uniform(1, 72))
            final = "approved" if quality > 3.2 else "rejected"
            decision, decided_at, closed_at = ("approve" if final == "approved" else "reject"), t, t
            move("closed", final, t)
        else:
            final = "in_review"
        if rng.random() < 0.6:
            children.append(
                (
                    SelfIdentification,
                    {
                        "application_id": app_id,
                        "sex": rng.choice(SEXES),
                        "race_ethnicity": rng.choice(RACES),
                        "recorded_at": submitted_at,
                    },
                )
            )
    elif started or rng.random() < 0.5:
        final = "expired" if rng.random() < 0.85 else "withdrawn"
        closed_at = invited + timedelta(days=7)
        move("closed", final, closed_at)
    candidate = {"id": cand_id, "name": "Bench", "email": f"{cand_id}@example.test", "timezone": "UTC"}
    application = {
        "id": app_id,
        "job_id": job_id,
        "candidate_id": cand_id,
        "workflow_id": f"application-{app_id}",
        "status": final,
        "stage": state["stage"],
        "pipeline_name": "standard",
        "pipeline_version": version,
        "pipeline_snapshot": snapshot,
        "decision": decision,
        "created_at": invited,
        "updated_at": t,
        "opened_at": invited + timedelta(minutes=30) if opened else None,
        "started_at": started_at,
        "submitted_at": submitted_at,
        "decided_at": decided_at,
        "closed_at": closed_at,
        "link_generation": 0,
    }
    return [(Candidate, {**candidate, "created_at": invited}), (Application, application), *children]


def seed(engine: Engine, applications: int, jobs: int, rng: random.Random) -> dict[str, int]:
    pipeline = get_pipeline("standard")
    snapshot, version = pipeline.snapshot(), pipeline.version
    rows = Rows(engine)
    job_ids = [f"job_bench{j:04d}" for j in range(jobs)]
    for j, job_id in enumerate(job_ids):
        rows.add(Job, id=job_id, title=f"Job {j}", pipeline="standard", created_at=START)
    rows.flush()
    for i in range(applications):
        for model, row in application_rows(i, job_ids[i % jobs], rng, snapshot, version):
            rows.add(model, **row)
    rows.flush()
    return rows.counts


async def timed(http: httpx.AsyncClient, url: str, headers: dict[str, str], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = await http.get(url, headers=headers)
        times.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")
    return {"median_ms": statistics.median(times), "max_ms": max(times), "first_ms": times[0]}


async def measure(engine: Engine, settings: Any, repeat: int) -> dict[str, Any]:
    app = create_app(settings, engine=engine)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    html = {**headers, "Accept": "text/html"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
        results: dict[str, Any] = {
            "baseline /api/v1/pipelines": await timed(http, "/api/v1/pipelines", headers, repeat),
            "baseline /api/v1/jobs": await timed(http, "/api/v1/jobs", headers, repeat),
        }
        for label, query in (("one job", "job_id=job_bench0000"), ("every job", "")):
            for metric in METRICS:
                results[f"{metric} · {label}"] = await timed(
                    http, f"/api/v1/analytics/{metric}?{query}", headers, repeat
                )
            results[f"dashboard · {label}"] = await timed(http, f"/staff/analytics?{query}", html, repeat)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--database-url", default=None, help="an empty database (default: SQLite in a temp dir)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "analytics.json")
    options = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="offhours-bench-analytics-") as directory:
        tmp = Path(directory)
        url = options.database_url or f"sqlite:///{tmp / 'offhours.db'}"
        upgrade(url)
        engine = make_engine(url)
        settings = load_settings(
            ENVIRONMENT="test",
            DATABASE_URL=url,
            SECRET_KEY="bench-secret-key-that-is-long-enough-0123456789",
            ADMIN_TOKEN=ADMIN_TOKEN,
            DATA_DIR=tmp / "data",
            MAILBOX_DIR=tmp / "mailbox",
        )
        began = time.perf_counter()
        counts = seed(engine, options.applications, options.jobs, random.Random(7))
        seeded = time.perf_counter() - began
        console.print(f"seeded {options.applications:,} applications in {seeded:.0f} s: {counts}")
        began = time.perf_counter()
        with Session(engine) as session:  # bulk rows bypass the writes that keep the rollups
            rollups.rebuild(session)
            session.commit()
        rebuilt = time.perf_counter() - began
        console.print(f"rollups rebuilt in {rebuilt:.0f} s")
        results = asyncio.run(measure(engine, settings, options.repeat))
        engine.dispose()
    baseline = results["baseline /api/v1/jobs"]["median_ms"]
    table = Table(title=f"analytics at {options.applications:,} applications ({engine.dialect.name})")
    for column in ("call", "median ms", "worst ms", "first ms", "÷ /api/v1/jobs"):
        table.add_column(column, justify="left" if column == "call" else "right")
    for name, figures in results.items():
        figures["ratio_to_jobs_baseline"] = figures["median_ms"] / baseline
        table.add_row(
            name,
            f"{figures['median_ms']:.1f}",
            f"{figures['max_ms']:.1f}",
            f"{figures['first_ms']:.1f}",
            f"{figures['ratio_to_jobs_baseline']:.1f}",
        )
    console.print(table)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(
        json.dumps(
            {
                "applications": options.applications,
                "jobs": options.jobs,
                "database": engine.dialect.name,
                "rows": counts,
                "seed_seconds": seeded,
                "rebuild_seconds": rebuilt,
                "machine": platform.platform(),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"written to {options.output}")


if __name__ == "__main__":
    main()
