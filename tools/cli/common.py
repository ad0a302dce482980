"""The `offhours` command line."""

from __future__ import annotations

import logging

import typer
from rich.console import Console

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


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        errors.print(f"[red]{error}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
