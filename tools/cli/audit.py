"""Auditing applications from their Temporal history: export, archive, verify, replay."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tools.cli.common import (
    audit_app,
    console,
    errors,
    settings_or_exit,
)


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
    settings = settings_or_exit()
    from operations.audit import export
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
    settings = settings_or_exit()
    from offhours.db import make_engine
    from operations.archive import sweep
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
    settings = settings_or_exit()
    from offhours.db import make_engine
    from operations.archive import verify_chain

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
    from operations.audit import export, replay

    async def run() -> object:
        if file is not None:
            return await replay(file.read_text(), file.stem)
        assert application is not None
        settings = settings_or_exit()
        from workers import connect

        workflow_id = _workflow_id(application)
        history = await export(await connect(settings, wait_seconds=10), workflow_id)
        return await replay(history, workflow_id)

    report = asyncio.run(run())
    from operations.audit import ReplayReport

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
