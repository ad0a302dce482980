"""Analytics reports on the command line: the same tables as the dashboard and the CSV downloads."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from tools.cli.common import app, console, errors, settings_or_exit

analytics_app = typer.Typer(help="The analytics rollups.", no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")


class Metric(StrEnum):
    funnel = "funnel"
    stages = "stages"
    questions = "questions"
    reminders = "reminders"
    reviewers = "reviewers"
    agreement = "agreement"
    adverse_impact = "adverse-impact"


@app.command("report")
def report(
    metric: Annotated[Metric, typer.Argument(help="Which report")],
    job: Annotated[str | None, typer.Option("--job", help="A job id (default: every job)")] = None,
    pipeline: Annotated[str | None, typer.Option(help="A pipeline name")] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="Invited on or after (a date or ISO time)")
    ] = None,
    until: Annotated[str | None, typer.Option("--to", help="Invited before (a date: to its end)")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table")] = False,
) -> None:
    """Print an analytics report (funnel, stages, questions, reminders, reviewers, agreement,
    adverse-impact) as a table; groups of fewer than 5 people show no counts."""
    settings = settings_or_exit()
    from sqlmodel import Session

    from api.deps import Principal
    from api.errors import ApiError
    from api.services import analytics
    from offhours.db import make_engine
    from operations.analytics.tables import TABLES, to_csv

    engine = make_engine(settings.DATABASE_URL)
    try:
        with Session(engine) as session:
            scope = analytics.scope_for(
                session,
                Principal(name="cli", role="ops"),
                metric.value,
                job_id=job,
                pipeline=pipeline,
                start=since,
                end=until,
            )
            headers, rows = TABLES[metric.value](analytics.compute(session, metric.value, scope))
    except ApiError as error:
        errors.print(f"[red]{error.detail}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    if as_csv:
        print(to_csv((headers, rows)), end="")
        return
    table = Table(
        title=f"{metric.value}" + (f" · job {job}" if job else "") + (f" · {pipeline}" if pipeline else "")
    )
    for header in headers:
        table.add_column(header.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@analytics_app.command("rebuild")
def analytics_rebuild() -> None:
    """Recompute every analytics counter from the applications' rows (after upgrading a database
    that has applications; until then analytics are computed from the raw tables, more slowly)."""
    settings = settings_or_exit()
    from sqlmodel import Session

    from activities.rollups import rebuild
    from offhours.db import make_engine

    engine = make_engine(settings.DATABASE_URL)
    try:
        with Session(engine) as session:
            counted = rebuild(session)
            session.commit()
    finally:
        engine.dispose()
    console.print(f"analytics counters rebuilt from {counted} applications")
