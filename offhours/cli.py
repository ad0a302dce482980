"""The `offhours` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from offhours.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="offhours: asynchronous hiring on Temporal.", no_args_is_help=True)
db_app = typer.Typer(help="The product database.", no_args_is_help=True)
pipelines_app = typer.Typer(help="Pipelines defined in pipelines/.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts: ops, recruiter, reviewer, auditor.", no_args_is_help=True)
tokens_app = typer.Typer(help="Staff API tokens (stored hashed, shown once).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(pipelines_app, name="pipelines")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
audit_app = typer.Typer(help="Audit applications from their Temporal history.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
console = Console()
errors = Console(stderr=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        errors.print(f"[red]{error}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    temporal_port: int = 7233,
    ui_port: int = 8233,
    smtp_port: int = 1025,
    state_dir: Annotated[Path, typer.Option(help="Where state, secrets and logs live")] = Path(".offhours"),
) -> None:
    """Run everything on this machine: Temporal dev server, worker, API, SQLite, mail catcher."""
    from offhours.dev import run_dev

    raise typer.Exit(run_dev(state_dir, port, temporal_port, ui_port, smtp_port))


@app.command()
def worker() -> None:
    """Run a worker against the configured Temporal, database and SMTP relay."""
    settings = _settings()
    _logging()
    from workers import run_worker

    asyncio.run(run_worker(settings))


@app.command()
def api(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the HTTP API against the configured Temporal and database."""
    settings = _settings()
    import uvicorn

    from api.app import create_app

    # X-Forwarded-For/-Proto are believed from TRUSTED_PROXIES only (nobody's, when it is empty).
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        proxy_headers=bool(settings.TRUSTED_PROXIES.strip()),
        forwarded_allow_ips=settings.TRUSTED_PROXIES.strip() or None,
    )


@app.command()
def mailcatcher(
    host: str = "127.0.0.1",
    port: int = 1025,
    maildir: Annotated[Path | None, typer.Option(help="Defaults to OFFHOURS_MAILBOX_DIR")] = None,
) -> None:
    """A local SMTP server for development that keeps every message in a Maildir."""
    from offhours.mailcatcher import run_mailcatcher

    run_mailcatcher(host, port, maildir or _settings().MAILBOX_DIR)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the database migrations."""
    settings = _settings()
    from offhours.migrate import upgrade

    upgrade(settings.DATABASE_URL, revision)
    console.print(f"database at {settings.DATABASE_URL} is at revision {revision}")


@db_app.command("rewrap-keys")
def db_rewrap_keys() -> None:
    """Wrap every application's data key with the first of MASTER_KEYS (after adding a new one
    first). Once backups taken before are expired, the old master key can be removed: those
    backups, and the erased applications in them, are then unreadable."""
    settings = _settings()
    from sqlmodel import col, select

    from offhours.db import make_engine, session_scope
    from offhours.models import DataKey
    from offhours.vault import Vault

    engine = make_engine(settings.DATABASE_URL)
    vault = Vault(settings)
    changed = total = 0
    try:
        with session_scope(engine) as session:
            ids = session.exec(select(DataKey.application_id).where(col(DataKey.wrapped).is_not(None))).all()
        for application_id in ids:  # one transaction per key: a long run holds no lock for long
            with session_scope(engine) as session:
                total += 1
                changed += vault.rewrap(session, application_id)
    finally:
        engine.dispose()
    console.print(f"{changed} of {total} data keys re-wrapped with master key '{vault.master[0][0]}'")


@contextmanager
def _accounts() -> Iterator[Session]:
    """A database session for account commands; AccountError becomes a clear message and exit 1."""
    from offhours import accounts
    from offhours.db import make_engine, session_scope

    engine = make_engine(_settings().DATABASE_URL)
    try:
        with session_scope(engine) as session:
            yield session
    except accounts.AccountError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@app.command()
def invite(
    csv_file: Annotated[
        Path, typer.Argument(help="CSV with a header: name,email[,timezone]", exists=True, dir_okay=False)
    ],
    job: Annotated[str, typer.Option(help="The job's id")],
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Rows invited at once")] = 16,
) -> None:
    """Invite every candidate in a CSV file. Running it again invites nobody twice; bad rows are
    listed with their line and reason while the others go through."""
    settings = _settings()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from offhours.db import make_engine
    from offhours.invitations import invite_rows, parse_csv
    from offhours.models import Job
    from workers import connect

    try:
        text = csv_file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        errors.print("[red]the file is not UTF-8 text; save the CSV as UTF-8[/red]")
        raise typer.Exit(2) from None
    rows, bad = parse_csv(text)
    engine = make_engine(settings.DATABASE_URL)
    with Session(engine) as session:
        found = session.get(Job, job)
    if found is None:
        errors.print(f"[red]no job with id '{job}'[/red]")
        raise typer.Exit(2)

    async def run() -> object:
        client = await connect(settings, wait_seconds=10)
        columns = (TextColumn("inviting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=errors) as progress:
            task = progress.add_task("rows", total=len(rows))
            return await invite_rows(
                engine, client, settings, found, rows, concurrency, lambda n: progress.advance(task, n)
            )

    result = asyncio.run(run())
    from offhours.invitations import BulkResult

    assert isinstance(result, BulkResult)
    problems = sorted([*bad, *result.errors], key=lambda b: b.line)
    for problem in problems:
        errors.print(f"line {problem.line}: {problem.reason}", highlight=False)
    console.print(
        f"{result.invited} invited, {result.already_invited} already invited, {len(problems)} not invited",
        highlight=False,
    )
    engine.dispose()
    raise typer.Exit(1 if problems else 0)


def _workflow_id(application_id: str) -> str:
    from offhours import ids

    return ids.application_workflow(ids.application_of(application_id))


@audit_app.command("export")
def audit_export(
    application_id: str,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
) -> None:
    """An application's full history as JSON (the format of `temporal workflow show -o json`)."""
    settings = _settings()
    from offhours.audit import export
    from workers import connect

    async def run() -> dict[str, object]:
        return await export(await connect(settings, wait_seconds=10), _workflow_id(application_id))

    try:
        history = asyncio.run(run())
    except Exception as error:  # noqa: BLE001 (any failure is told to the operator in one line)
        errors.print(f"[red]could not export {application_id}: {error}[/red]")
        raise typer.Exit(1) from None
    text = json.dumps(history, indent=2)
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n")
        events = history.get("events")
        console.print(f"wrote {len(events) if isinstance(events, list) else 0} events to {output}")


@audit_app.command("archive")
def audit_archive(
    application: Annotated[str | None, typer.Option(help="Archive this application only")] = None,
) -> None:
    """Archive the histories of closed applications not archived yet (run it from cron, before
    Temporal's retention deletes them); each entry joins the hash chain."""
    settings = _settings()
    from offhours.archive import sweep
    from offhours.db import make_engine
    from workers import connect

    engine = make_engine(settings.DATABASE_URL)

    async def run() -> tuple[int, list[str]]:
        return await sweep(engine, await connect(settings, wait_seconds=10), settings.DATA_DIR, application)

    archived, skipped = asyncio.run(run())
    for line in skipped:
        errors.print(line)
    console.print(f"archived {archived} histor{'y' if archived == 1 else 'ies'}")
    engine.dispose()


@audit_app.command("verify-chain")
def audit_verify_chain() -> None:
    """Check every archived history against its digest and the hash chain; exit 1 on any problem."""
    settings = _settings()
    from offhours.archive import verify_chain
    from offhours.db import make_engine

    engine = make_engine(settings.DATABASE_URL)
    report = verify_chain(engine, settings.DATA_DIR)
    engine.dispose()
    for problem in report.problems:
        errors.print(f"[red]{problem}[/red]")
    state = "intact" if report.intact else "BROKEN"
    console.print(f"{report.entries} archived histories, chain {state}, head {report.head}", highlight=False)
    raise typer.Exit(0 if report.intact else 1)


@audit_app.command("replay")
def audit_replay(
    application: Annotated[
        str | None, typer.Option(help="Replay this application's history from Temporal")
    ] = None,
    file: Annotated[Path | None, typer.Option(help="Replay a history exported as JSON", exists=True)] = None,
) -> None:
    """Replay a history with the current workflow code: exit 0 when it replays and the reconstructed
    outcome equals the recorded one, 1 otherwise (with the event where it diverged)."""
    if (application is None) == (file is None):
        errors.print("[red]give exactly one of --application or --file[/red]")
        raise typer.Exit(2)
    from offhours.audit import export, replay

    async def run() -> object:
        if file is not None:
            return await replay(file.read_text(), file.stem)
        assert application is not None
        settings = _settings()
        from workers import connect

        workflow_id = _workflow_id(application)
        history = await export(await connect(settings, wait_seconds=10), workflow_id)
        return await replay(history, workflow_id)

    report = asyncio.run(run())
    from offhours.audit import ReplayReport

    assert isinstance(report, ReplayReport)
    table = Table("", "value")
    table.add_row("workflow", f"{report.workflow_type} {report.workflow_id}")
    table.add_row("replays with current code", "yes" if report.deterministic else "NO")
    if report.error:
        table.add_row("diverged at event", str(report.diverged_at_event or "?"))
        table.add_row("error", report.error)
    table.add_row("recorded outcome", json.dumps(report.recorded_outcome))
    table.add_row("reconstructed outcome", json.dumps(report.replayed_outcome))
    console.print(table)
    raise typer.Exit(0 if report.outcomes_match else 1)


@users_app.command("create")
def users_create(
    email: str,
    name: Annotated[str, typer.Option(help="Full name")],
    role: Annotated[str, typer.Option(help="ops, recruiter, reviewer or auditor")],
    person_id: Annotated[
        str | None,
        typer.Option(help="Their id in the staff directory (pipelines/people.py), to review or approve"),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read a password for browser sign-in from stdin")
    ] = False,
) -> None:
    """Create a member of staff."""
    from offhours import accounts

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with _accounts() as session:
        user = accounts.create_user(session, email, name, role, person_id, password)
        console.print(f"created {user.id} {user.email} ({user.role})")


@users_app.command("list")
def users_list() -> None:
    """List staff accounts."""
    from sqlmodel import col, select

    from offhours.models import User

    table = Table("id", "email", "name", "role", "directory id", "status")
    with _accounts() as session:
        for user in session.exec(select(User).order_by(col(User.created_at))):
            status = "disabled" if user.disabled_at else "active"
            table.add_row(user.id, user.email, user.name, user.role, user.person_id or "", status)
    console.print(table)


@users_app.command("disable")
def users_disable(who: Annotated[str, typer.Argument(help="Email or user id")]) -> None:
    """Disable a user: their tokens and sessions stop working at once."""
    from offhours import accounts

    with _accounts() as session:
        user = accounts.disable_user(session, who)
        console.print(f"disabled {user.email}; their tokens and sessions no longer work")


@tokens_app.command("create")
def tokens_create(
    who: Annotated[str, typer.Argument(help="Email or user id")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "api",
) -> None:
    """Create an API token; it is printed once and only its hash is kept."""
    from offhours import accounts

    with _accounts() as session:
        token, plain = accounts.create_token(session, who, name)
        console.print(f"token {token.id} for {who} (shown once, store it now):", highlight=False)
        print(plain)


@tokens_app.command("revoke")
def tokens_revoke(token_id: str) -> None:
    """Revoke an API token by its id."""
    from offhours import accounts

    with _accounts() as session:
        token = accounts.revoke_token(session, token_id)
        console.print(f"revoked {token.id}")


@pipelines_app.command("list")
def pipelines_list() -> None:
    """List the pipelines with their version hash and stages."""
    from pipelines import PIPELINES

    table = Table("name", "title", "version", "stages")
    for pipeline in PIPELINES.values():
        table.add_row(
            pipeline.name, pipeline.title, pipeline.version[:12], " → ".join(s.kind for s in pipeline.stages)
        )
    console.print(table)


@pipelines_app.command("show")
def pipelines_show(name: str) -> None:
    """Print one pipeline's full definition (the snapshot applications start under) as JSON."""
    from pipelines import PIPELINES

    pipeline = PIPELINES.get(name)
    if pipeline is None:
        errors.print(f"no pipeline '{name}'; known pipelines: {', '.join(sorted(PIPELINES))}")
        raise typer.Exit(1)
    console.print_json(data={"version": pipeline.version, "definition": pipeline.snapshot()})


@pipelines_app.command("validate")
def pipelines_validate(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Python files defining pipelines; default: all registered")
    ] = None,
) -> None:
    """Validate pipelines and print every problem, naming the pipeline and the stage."""
    import importlib.util

    from pipelines.base import Pipeline, PipelineError

    found: list[Pipeline] = []
    try:
        if files:
            for path in files:
                spec = importlib.util.spec_from_file_location(f"_pipelines_{path.stem}", path)
                if spec is None or spec.loader is None:
                    errors.print(f"{path}: not a Python file")
                    raise typer.Exit(2)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                found += [v for v in vars(module).values() if isinstance(v, Pipeline)]
        else:
            from pipelines import PIPELINES

            found = list(PIPELINES.values())
    except PipelineError as error:
        for problem in error.problems:
            errors.print(problem, soft_wrap=True)
        raise typer.Exit(1) from None
    from pipelines import validate

    failed = False
    for pipeline in found:
        try:
            validate(pipeline)
            console.print(f"ok  {pipeline.name} ({pipeline.version[:12]})")
        except PipelineError as error:
            failed = True
            for problem in error.problems:
                errors.print(problem, soft_wrap=True)
    if not found:
        errors.print("no pipelines found")
    raise typer.Exit(1 if failed or not found else 0)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
