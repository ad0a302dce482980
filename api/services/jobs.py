"""Jobs for staff, for the JSON API and the staff pages alike: opening a job on a pipeline, putting
staff on it, and inviting candidates from a CSV file with a report line by line."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.client import Client

from api import idempotency
from api.deps import Principal
from api.errors import PayloadTooLarge, Unprocessable
from api.schemas import JobCreate
from api.services.access import is_member, load_job
from offhours import accounts
from offhours.models import Job, JobMember, User, new_id
from offhours.settings import Settings
from operations.invitations import BadRow, CsvError, Row, invite_rows, parse_csv
from pipelines.registry import PIPELINES, PipelineError, get_pipeline

MAX_CSV_BYTES = 20 * 1024 * 1024
TOO_LARGE = f"the file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB; split it"


def open_job(session: Session, staff: Principal, body: JobCreate) -> Job:
    """A job on a pipeline of the registry; whoever opens it (a user) is on it."""
    try:
        get_pipeline(body.pipeline)
    except PipelineError as error:
        raise Unprocessable(str(error), known_pipelines=sorted(PIPELINES)) from None
    job_id = idempotency.row_id("job")  # a retry (Idempotency-Key) finds the job it opened
    if job_id is not None and (opened := session.get(Job, job_id)) is not None:
        return opened
    job = Job(id=job_id or new_id("job"), title=body.title, pipeline=body.pipeline)
    session.add(job)
    if staff.user_id is not None:
        session.flush()
        session.add(JobMember(job_id=job.id, user_id=staff.user_id))
    return job


def add_member(session: Session, staff: Principal, job_id: str, who: str) -> tuple[Job, User]:
    """Put a user (by id or email) on a job; once, however often asked."""
    job = load_job(session, job_id, staff)
    try:
        user = accounts.find_user(session, who)
    except accounts.AccountError as error:
        raise Unprocessable(str(error), errors=[{"field": "user", "message": "no such user"}]) from None
    if not is_member(session, job.id, Principal(user.id, user.role, user.id)):
        session.add(JobMember(job_id=job.id, user_id=user.id))
        try:
            session.flush()
        except IntegrityError:  # added at the same moment by someone else
            session.rollback()
    return job, user


def read_csv(raw: bytes) -> tuple[list[Row], list[BadRow]]:
    """The file's rows and its bad lines; a file that cannot be read at all is a 413 or a 422."""
    if len(raw) > MAX_CSV_BYTES:
        raise PayloadTooLarge(TOO_LARGE)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unprocessable("the file is not UTF-8 text; save the CSV as UTF-8") from None
    try:
        rows, bad = parse_csv(text)
    except CsvError as error:
        raise Unprocessable(
            f"line {error.line}: {error.reason}; nothing was invited",
            errors=[{"line": error.line, "reason": error.reason}],
        ) from None
    if not rows and bad and bad[0].line == 1:
        raise Unprocessable(bad[0].reason, errors=[{"line": 1, "reason": bad[0].reason}])
    return rows, bad


@dataclass(frozen=True)
class Line:
    line: int
    outcome: str  # invited, already invited, refused
    message: str


@dataclass
class BulkReport:
    invited: int = 0
    already_invited: int = 0
    errors: list[BadRow] = field(default_factory=list)
    rows: int = 0
    lines: list[Line] = field(default_factory=list)

    def public(self) -> dict[str, object]:
        return {
            "invited": self.invited,
            "already_invited": self.already_invited,
            "errors": [{"line": b.line, "reason": b.reason} for b in self.errors],
            "rows": self.rows,
        }


async def invite_file(engine: Engine, client: Client, settings: Settings, job: Job, raw: bytes) -> BulkReport:
    """Every good row of the file invited (once per job and email), every bad one reported."""
    rows, bad = read_csv(raw)
    return await invite_parsed(engine, client, settings, job, rows, bad)


async def invite_parsed(
    engine: Engine,
    client: Client,
    settings: Settings,
    job: Job,
    rows: list[Row],
    bad: list[BadRow],
    progress: Callable[[int], None] | None = None,
) -> BulkReport:
    """The rows of a file already read (`read_csv`) invited, with `progress` told of each one."""
    result = await invite_rows(engine, client, settings, job, rows, progress=progress)
    errors = sorted([*bad, *result.errors], key=lambda b: b.line)
    refused = {b.line: b.reason for b in errors}
    lines = [Line(b.line, "refused", b.reason) for b in errors]
    for row in rows:
        if row.line in refused:
            continue
        done = result.outcomes.get(row.line, "invited")
        message = f"{row.name} <{row.email}>" + (
            " was invited before; not again" if done != "invited" else ""
        )
        lines.append(Line(row.line, done, message))
    return BulkReport(
        result.invited,
        result.already_invited,
        errors,
        len(rows) + len(bad),
        sorted(lines, key=lambda line: line.line),
    )


log = logging.getLogger(__name__)


@dataclass
class InviteRun:
    """A CSV file being invited in the background: how far it has got and, once done, its report.
    `failed` says why a run stopped before its end (the rows it did invite stay invited)."""

    id: str
    job_id: str
    owner: str
    file_name: str
    total: int
    done: int = 0
    report: BulkReport | None = None
    failed: str | None = None
    finished_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.report is None and self.failed is None


class UploadUnderWay(Exception):
    """This user's earlier file for this job is still being invited: follow that one first."""

    def __init__(self, run: InviteRun) -> None:
        super().__init__(run.id)
        self.run = run


class InviteRuns:
    """The uploads of this API process, kept for an hour after they finish, each shown only to
    whoever uploaded it. In memory on purpose: a report names candidates, and nothing of it should
    outlive the hour (a restart loses only the report; sending the file again invites nobody twice).
    One process's memory means one process's pages: behind several API replicas the console needs
    sticky sessions until runs move to the shared store (Step 12).

    Bounded: one running upload per user and job (a second is refused, pointing at the first), at
    most RUNNING uploads inviting at once in the process (the others wait their turn, shown as not
    started), and at most KEPT runs remembered (the oldest finished ones forgotten first)."""

    KEEP_SECONDS = 3600
    CLOSE_GRACE = 10.0  # seconds given at shutdown to the runs under way
    RUNNING = 2
    KEPT = 200

    def __init__(self) -> None:
        self._runs: dict[str, InviteRun] = {}
        self._turns = asyncio.Semaphore(self.RUNNING)

    def start(
        self,
        job_id: str,
        owner: str,
        file_name: str,
        total: int,
        already_done: int,
        work: Callable[[Callable[[int], None]], Awaitable[BulkReport]],
    ) -> InviteRun:
        self._forget_old()
        under_way = next(
            (r for r in self._runs.values() if r.running and r.job_id == job_id and r.owner == owner), None
        )
        if under_way is not None:
            raise UploadUnderWay(under_way)
        run = InviteRun(secrets.token_urlsafe(12), job_id, owner, file_name[:200], total, already_done)

        def advance(step: int) -> None:
            run.done = min(run.total, run.done + step)

        def stopped(why: str) -> str:
            return (
                f"The upload stopped after {run.done} of {run.total} lines ({why}); "
                "send the file again: nobody is invited twice"
            )

        async def go() -> None:
            try:
                async with self._turns:
                    run.report = await work(advance)
                run.done = run.total
            except asyncio.CancelledError:
                run.failed = stopped("the server was shutting down")
                raise
            except Exception as error:
                log.exception("invite run %s stopped", run.id)
                run.failed = stopped(type(error).__name__)
            finally:
                run.finished_at = time.monotonic()

        self._runs[run.id] = run
        run.task = asyncio.get_running_loop().create_task(go(), name=f"invite-run-{run.id}")
        return run

    def get(self, run_id: str, job_id: str, owner: str) -> InviteRun | None:
        self._forget_old()
        run = self._runs.get(run_id)
        return run if run is not None and run.job_id == job_id and run.owner == owner else None

    def _forget_old(self) -> None:
        now = time.monotonic()
        finished = sorted((r.finished_at, r.id) for r in self._runs.values() if r.finished_at is not None)
        over = len(self._runs) - self.KEPT  # the oldest finished go first when too many are kept
        for index, (finished_at, run_id) in enumerate(finished):
            if index < over or now - finished_at > self.KEEP_SECONDS:
                del self._runs[run_id]

    async def settle(self, run: InviteRun, seconds: float) -> None:
        """Wait up to `seconds` for `run` to end, so a short file lands straight on its report."""
        if run.task is not None and not run.task.done():
            await asyncio.wait([run.task], timeout=seconds)

    async def close(self) -> None:
        """At shutdown: let the runs under way finish their current rows (each row is idempotent),
        then stop what is left (sending the file again completes it)."""
        tasks = [run.task for run in self._runs.values() if run.task is not None and not run.task.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.CLOSE_GRACE)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
