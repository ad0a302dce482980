"""The `offhours` command line."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from offhours.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="offhours: asynchronous hiring on Temporal.", no_args_is_help=True)
db_app = typer.Typer(help="The product database.", no_args_is_help=True)
pipelines_app = typer.Typer(help="Pipelines defined in pipelines/.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(pipelines_app, name="pipelines")
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

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=True)


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


@pipelines_app.command("list")
def pipelines_list() -> None:
    """List the pipelines with their version hash."""
    from pipelines import PIPELINES

    table = Table("name", "title", "version", "questions")
    for pipeline in PIPELINES.values():
        table.add_row(
            pipeline.name, pipeline.title, pipeline.version[:12], str(len(pipeline.interview.questions))
        )
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
