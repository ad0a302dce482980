"""Staff accounts and their API tokens."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import Session

from tools.cli.common import (
    console,
    errors,
    settings_or_exit,
    tokens_app,
    users_app,
)


@contextmanager
def _accounts() -> Iterator[Session]:
    """A database session for account commands; AccountError becomes a clear message and exit 1."""
    from offhours import accounts
    from offhours.db import make_engine, session_scope

    engine = make_engine(settings_or_exit().DATABASE_URL)
    try:
        with session_scope(engine) as session:
            yield session
    except accounts.AccountError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


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


@users_app.command("set-role")
def users_set_role(
    who: Annotated[str, typer.Argument(help="Email or user id")],
    role: Annotated[str, typer.Argument(help="ops, recruiter, reviewer or auditor")],
) -> None:
    """Give a user another role (never the last active ops user's)."""
    from offhours import accounts

    with _accounts() as session:
        user = accounts.set_role(session, who, role)
        console.print(f"{user.email} is now {user.role}")


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
