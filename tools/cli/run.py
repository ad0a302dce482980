"""The long-running commands: everything at once for development, a worker, the API, a mail catcher."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from tools.cli.common import (
    app,
    configure_logging,
    settings_or_exit,
)


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    temporal_port: int = 7233,
    ui_port: int = 8233,
    smtp_port: int = 1025,
    state_dir: Annotated[Path, typer.Option(help="Where state, secrets and logs live")] = Path(".offhours"),
) -> None:
    """Run everything on this machine: Temporal dev server, worker, API, SQLite, mail catcher."""
    from tools.dev import run_dev

    raise typer.Exit(run_dev(state_dir, port, temporal_port, ui_port, smtp_port))


@app.command()
def worker() -> None:
    """Run a worker against the configured Temporal, database and SMTP relay."""
    settings = settings_or_exit()
    configure_logging()
    from workers import run_worker

    asyncio.run(run_worker(settings))


@app.command()
def api(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the HTTP API against the configured Temporal and database."""
    settings = settings_or_exit()
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
    from tools.mailcatcher import run_mailcatcher

    run_mailcatcher(host, port, maildir or settings_or_exit().MAILBOX_DIR)
