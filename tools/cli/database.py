"""The product database: migrations and re-wrapping the data keys."""

from __future__ import annotations

from tools.cli.common import (
    console,
    db_app,
    settings_or_exit,
)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the database migrations."""
    settings = settings_or_exit()
    from offhours.migrate import upgrade

    upgrade(settings.DATABASE_URL, revision)
    console.print(f"database at {settings.DATABASE_URL} is at revision {revision}")


@db_app.command("rewrap-keys")
def db_rewrap_keys() -> None:
    """Wrap every application's data key with the first of MASTER_KEYS (after adding a new one
    first). Once backups taken before are expired, the old master key can be removed: those
    backups, and the erased applications in them, are then unreadable."""
    settings = settings_or_exit()
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
