"""Inviting a list of candidates from a CSV file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from tools.cli.common import (
    app,
    console,
    errors,
    settings_or_exit,
)


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
    settings = settings_or_exit()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from offhours.db import make_engine
    from offhours.models import Job
    from operations.invitations import invite_rows, parse_csv
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
    from operations.invitations import BulkResult

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
