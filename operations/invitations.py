"""Bulk invitations from a CSV file: each row is checked, valid rows are invited while bad ones are
reported with their line and reason, and running the same file again invites nobody twice.

Idempotent per (job, email): the application row is the record of the intent and its workflow id is
derived from it, so a second run finds the row and only (re)starts a workflow that never started
(a run cut off between the two). Rows go through with bounded concurrency.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from offhours import ids
from offhours.contracts import ApplicationInput
from offhours.models import Application, Candidate, EmailMessage, Job, new_id
from offhours.settings import Settings
from offhours.states import ApplicationStatus
from pipelines.registry import get_pipeline

MAX_ROWS = 100_000


@dataclass(frozen=True)
class Row:
    line: int
    name: str
    email: str
    timezone: str


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass
class BulkResult:
    invited: int = 0
    already_invited: int = 0
    errors: list[BadRow] = field(default_factory=list)
    outcomes: dict[int, str] = field(default_factory=dict)  # by line: invited, already invited

    @property
    def total(self) -> int:
        return self.invited + self.already_invited + len(self.errors)


class CsvError(ValueError):
    """The file cannot be read as CSV from this line on; nothing of it is taken."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _records(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    """The reader's records; a line it cannot read (a field over the csv module's size limit, a
    quote left open) becomes a CsvError naming that line."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            line = getattr(reader, "line_num", 0) or 1
            raise CsvError(line, f"this line cannot be read as CSV ({error})") from None
        yield cells


def parse_csv(text: str, default_timezone: str = "UTC") -> tuple[list[Row], list[BadRow]]:
    """Rows with a header `name,email[,timezone]` (any order, any case). Line numbers count the header
    as line 1, as a spreadsheet shows them."""
    # Universal newlines: \r\n, \n and the bare \r some spreadsheet exports still write.
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=None))
    records = _records(reader)
    header = [h.strip().lower() for h in next(records, [])]
    missing = [h for h in ("name", "email") if h not in header]
    if missing:
        return [], [
            BadRow(1, f"the header must name the columns name and email (missing: {', '.join(missing)})")
        ]
    index: dict[str, int] = {h: header.index(h) for h in ("name", "email", "timezone") if h in header}
    rows: list[Row] = []
    bad: list[BadRow] = []
    seen: dict[str, int] = {}
    for line, cells in enumerate(records, start=2):
        if not any(c.strip() for c in cells):
            continue  # blank lines are not rows
        if len(rows) + len(bad) >= MAX_ROWS:
            bad.append(BadRow(line, f"more than {MAX_ROWS} rows; split the file"))
            break

        def cell(name: str, cells: list[str] = cells) -> str:
            position = index.get(name)
            return cells[position].strip() if position is not None and position < len(cells) else ""

        name, email, zone = cell("name"), cell("email"), cell("timezone") or default_timezone
        if not name:
            bad.append(BadRow(line, "the name is empty"))
            continue
        if len(name) > 200:
            bad.append(BadRow(line, "the name is longer than 200 characters"))
            continue
        try:
            email = validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError as error:
            bad.append(BadRow(line, f"'{email}' is not a valid email address: {error}"))
            continue
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            bad.append(BadRow(line, f"'{zone}' is not a time zone (use a name like Europe/Paris)"))
            continue
        if email in seen:
            bad.append(BadRow(line, f"{email} is already on line {seen[email]} of this file"))
            continue
        seen[email] = line
        rows.append(Row(line, name, email, zone))
    return rows, bad


def _record(
    engine: Engine,
    job: Job,
    row: Row,
    snapshot: dict[str, object],
    version: str,
    application_id: str | None = None,
) -> tuple[Application, bool]:
    """The application for (job, email), found or created with its candidate, and whether its
    workflow may still need starting: new, or recorded by a run that stopped before starting it (no
    email sent, still invited). A workflow that ran is never started again, even once Temporal's
    retention has deleted its history."""
    application, pending, _ = _record_or_create(engine, job, row, snapshot, version, application_id)
    return application, pending


def _record_or_create(
    engine: Engine,
    job: Job,
    row: Row,
    snapshot: dict[str, object],
    version: str,
    application_id: str | None,
) -> tuple[Application, bool, Written | None]:
    """As _record, and what this call wrote (None when it found the application), so that a
    refused start can take back exactly that."""
    with Session(engine, expire_on_commit=False) as session:
        for _ in range(3):
            existing = session.exec(
                select(Application)
                .join(Candidate, col(Candidate.id) == col(Application.candidate_id))
                .where(Application.job_id == job.id, Candidate.email == row.email)
            ).first()
            if existing is None and application_id is not None:
                existing = session.get(Application, application_id)  # made by this call's first attempt
            if existing is not None:
                sent = session.exec(
                    select(EmailMessage.id).where(EmailMessage.application_id == existing.id)
                ).first()
                return existing, existing.status == ApplicationStatus.invited and sent is None, None
            try:
                candidate = session.exec(select(Candidate).where(Candidate.email == row.email)).first()
                new_candidate = candidate is None
                if candidate is None:
                    candidate = Candidate(
                        id=new_id("cand"), name=row.name, email=row.email, timezone=row.timezone
                    )
                    session.add(candidate)
                    session.flush()
                new_application_id = application_id or new_id("app")
                application = Application(
                    id=new_application_id,
                    job_id=job.id,
                    candidate_id=candidate.id,
                    candidate_name=row.name,
                    candidate_timezone=row.timezone,
                    workflow_id=ids.application_workflow(new_application_id),
                    status=ApplicationStatus.invited,
                    stage="invite",
                    pipeline_name=job.pipeline,
                    pipeline_version=version,
                    pipeline_snapshot=snapshot,
                )
                session.add(application)
                session.commit()
                return application, True, Written(application.id, candidate.id if new_candidate else None)
            except IntegrityError:  # the same candidate or row invited at this moment by another call
                session.rollback()
        raise RuntimeError(f"line {row.line}: could not record the application; run the file again")


@dataclass(frozen=True)
class Written:
    application_id: str
    candidate_id: str | None  # when the candidate was new too


def _take_back(engine: Engine, written: Written) -> None:
    """The workflow engine refused the start: the rows this call wrote are removed again."""
    with Session(engine) as session:
        row = session.get(Application, written.application_id)
        if row is not None:
            session.delete(row)
            session.flush()
        if written.candidate_id is not None and (made := session.get(Candidate, written.candidate_id)):
            session.delete(made)
        session.commit()


@dataclass(frozen=True)
class Invitation:
    application: Application
    started: bool  # its workflow was started by this call (False: it had been already)


async def invite(
    engine: Engine,
    client: Client,
    settings: Settings,
    job: Job,
    row: Row,
    *,
    application_id: str | None = None,
) -> Invitation:
    """The one way a candidate is invited, one at a time (POST /applications) or from a file.

    Idempotent per (job, email): the application row is the record of the intent and its workflow
    id derives from it; an application whose workflow never started (a run cut off between the
    two) is started now, one that ran is never started again (REJECT_DUPLICATE). With
    `application_id` (derived from an Idempotency-Key), a retry of the call finds its own
    application even once the candidate's email has been erased. If the engine refuses the start,
    what this call wrote is taken back and the error raised: nothing half-written stays.
    """
    pipeline = get_pipeline(job.pipeline)
    application, pending, written = await asyncio.to_thread(
        _record_or_create, engine, job, row, pipeline.snapshot(), pipeline.version, application_id
    )
    if not pending:
        return Invitation(application, started=False)
    try:
        await client.start_workflow(
            "Application",
            ApplicationInput(
                application.id, job.id, application.pipeline_snapshot, application.pipeline_version
            ),
            id=application.workflow_id,
            task_queue=settings.TASK_QUEUE,
            # Never a second run for the same application, even after the first closed.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return Invitation(application, started=False)
    except BaseException:
        if written is not None:
            await asyncio.to_thread(_take_back, engine, written)
        raise
    return Invitation(application, started=True)


async def invite_rows(
    engine: Engine,
    client: Client,
    settings: Settings,
    job: Job,
    rows: Iterable[Row],
    concurrency: int = 16,
    progress: Callable[[int], None] | None = None,
) -> BulkResult:
    """Invite every row (concurrently, at most `concurrency` at a time), each through invite()."""
    result = BulkResult()
    gate = asyncio.Semaphore(concurrency)

    async def one(row: Row) -> None:
        async with gate:
            try:
                invitation = await invite(engine, client, settings, job, row)
                if invitation.started:
                    result.invited += 1
                else:
                    result.already_invited += 1
                result.outcomes[row.line] = "invited" if invitation.started else "already invited"
            except Exception as error:  # noqa: BLE001 (reported with its line; the other rows go on)
                result.errors.append(BadRow(row.line, f"not invited, run the file again: {error}"))
            finally:
                if progress is not None:
                    progress(1)

    await asyncio.gather(*(one(row) for row in rows))
    result.errors.sort(key=lambda bad: bad.line)
    return result
