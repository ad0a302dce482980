"""Background CSV invitations (api/services/jobs.InviteRuns): progress only forward and never past
the file, a run that stops says after which line and what to do, a run is its uploader's alone, one
upload at a time per user and job, a bounded number inviting at once, and a finished run's report
(it names candidates) forgotten after its hour, while one still running is kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from api.services import jobs
from api.services.jobs import BulkReport, InviteRun, InviteRuns, UploadUnderWay


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
    assert runs.get(old.id, "job-1", "user-1") is old
    old.finished_at -= InviteRuns.KEEP_SECONDS + 1
    assert runs.get(old.id, "job-1", "user-1") is None, "forgotten on reading, without another upload"


async def held(runs: InviteRuns, job: str, user: str, gate: asyncio.Event, total: int = 5) -> InviteRun:
    async def work(progress: Callable[[int], None]) -> BulkReport:
        progress(1)
        await gate.wait()
        progress(total * 10)  # more than the file has: the count stops at its total
        return BulkReport(rows=total)

    run = runs.start(job, user, "a.csv", total=total, already_done=0, work=work)
    await asyncio.sleep(0)
    return run


async def test_progress_never_passes_the_file_and_a_running_run_outlives_the_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs, gate = InviteRuns(), asyncio.Event()
    run = await held(runs, "job-1", "user-1", gate)
    assert run.done == 1
    # Two hours on, a run still going is kept: its page must keep answering.
    later = time.monotonic() + 2 * InviteRuns.KEEP_SECONDS
    monkeypatch.setattr(jobs, "time", SimpleNamespace(monotonic=lambda: later))  # this module's clock only
    assert runs.get(run.id, "job-1", "user-1") is run
    gate.set()
    assert run.task is not None
    await run.task
    assert run.done == run.total == 5
    assert runs.get(run.id, "job-1", "user-1") is run, "just finished: kept for its hour"


async def test_one_upload_at_a_time_per_user_and_job() -> None:
    runs, gate = InviteRuns(), asyncio.Event()
    first = await held(runs, "job-1", "user-1", gate)
    with pytest.raises(UploadUnderWay) as refused:
        await held(runs, "job-1", "user-1", gate)
    assert refused.value.run is first
    # Another user on the job, or the same user on another job, is not held up.
    others = [await held(runs, "job-1", "user-2", gate), await held(runs, "job-2", "user-1", gate)]
    gate.set()
    for run in (first, *others):
        assert run.task is not None
        await run.task
    again = await held(runs, "job-1", "user-1", gate)  # once the first is done, the next is taken
    assert again.task is not None
    await again.task


async def test_at_most_two_invite_at_once_the_others_wait_their_turn() -> None:
    runs, gate = InviteRuns(), asyncio.Event()
    going = [await held(runs, f"job-{i}", "user-1", gate) for i in range(InviteRuns.RUNNING)]
    waiting = await held(runs, "job-waiting", "user-1", gate)
    assert [r.done for r in going] == [1] * InviteRuns.RUNNING
    assert waiting.running
    assert waiting.done == 0, "not started while the others hold their turns"
    gate.set()
    assert waiting.task is not None
    await waiting.task
    assert waiting.done == waiting.total


async def test_shutdown_stops_what_is_left_and_says_so() -> None:
    runs = InviteRuns()
    runs.CLOSE_GRACE = 0.05
    run = await held(runs, "job-1", "user-1", asyncio.Event())  # never released
    await runs.close()
    assert run.task is not None
    assert run.task.done()
    assert not run.running
    assert run.failed is not None
    assert "shutting down" in run.failed
    assert "after 1 of 5 lines" in run.failed
