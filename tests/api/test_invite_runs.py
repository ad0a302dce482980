"""Background CSV invitations (api/services/jobs.InviteRuns): progress only forward, a run that
stops says after which line and what to do, a run is its uploader's alone, and a finished run's
report (it names candidates) is forgotten after its hour."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from api.services.jobs import BulkReport, InviteRuns


async def test_a_run_reports_its_progress_then_its_report() -> None:
    runs = InviteRuns()
    release = asyncio.Event()

    async def work(progress: Callable[[int], None]) -> BulkReport:
        for _ in range(3):
            progress(1)
        await release.wait()
        return BulkReport(invited=3, rows=4)

    run = runs.start("job-1", "user-1", "a.csv", total=4, already_done=1, work=work)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert run.running
    assert run.done == 4
    assert run.report is None
    release.set()
    assert run.task is not None
    await run.task
    assert not run.running
    assert run.report is not None
    assert run.report.invited == 3
    assert runs.get(run.id, "job-1", "user-1") is run
    assert runs.get(run.id, "job-1", "user-2") is None, "another user does not see the run"
    assert runs.get(run.id, "job-2", "user-1") is None, "nor does another job's page"


async def test_a_run_that_stops_says_where_and_what_to_do() -> None:
    runs = InviteRuns()

    async def work(progress: Callable[[int], None]) -> BulkReport:
        progress(2)
        raise ConnectionError("Temporal went away")

    run = runs.start("job-1", "user-1", "a.csv", total=10, already_done=0, work=work)
    assert run.task is not None
    await run.task
    assert not run.running
    assert run.failed is not None
    assert "after 2 of 10 lines" in run.failed
    assert "nobody is invited twice" in run.failed


async def test_a_finished_run_is_forgotten_after_its_hour() -> None:
    runs = InviteRuns()

    async def work(progress: Callable[[int], None]) -> BulkReport:
        progress(1)
        return BulkReport(rows=1)

    old = runs.start("job-1", "user-1", "a.csv", total=1, already_done=0, work=work)
    assert old.task is not None
    await old.task
    assert old.finished_at is not None
    old.finished_at -= InviteRuns.KEEP_SECONDS + 1
    runs.start("job-1", "user-1", "b.csv", total=1, already_done=0, work=work)
    assert runs.get(old.id, "job-1", "user-1") is None
