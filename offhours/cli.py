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
