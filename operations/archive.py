"""The archive of closed workflow histories, kept by the product because Temporal's retention deletes
them. Each history is a file under DATA_DIR/archive (named by workflow id) and a row carrying the
file's sha256 and a hash chain: chain = sha256(previous chain + sha256 + workflow id), starting from
a fixed genesis value. Altering a file, deleting one, or deleting or editing a row breaks the chain.

The archive keeps what Temporal holds: payloads encrypted by the payload codec, so the files (and the
digests and chain over them) are ciphertext; `read_archived` opens them with the payload keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from offhours import ids
from offhours.models import Application, HistoryArchive
from offhours.settings import Settings
from offhours.states import FINAL_STATUSES
from operations.audit import decrypted, export

GENESIS = "0" * 64


def chain_value(previous: str, sha256: str, workflow_id: str) -> str:
    return hashlib.sha256(f"{previous}{sha256}{workflow_id}".encode()).hexdigest()


def _relative(workflow_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in workflow_id)
    return f"archive/{safe}.json"


def archive_history(
    engine: Engine, data_dir: Path, workflow_id: str, history: dict[str, Any]
) -> HistoryArchive:
    """Append one closed history to the archive (once per workflow id; a repeat returns the entry)."""
    body = (json.dumps(history, sort_keys=True, separators=(",", ":")) + "\n").encode()
    digest = hashlib.sha256(body).hexdigest()
    relative = _relative(workflow_id)
    path = data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(body)
    os.replace(temporary, path)
    application_id = ids.application_of(workflow_id) if workflow_id.startswith(ids.APPLICATION) else None
    for _ in range(5):
        with Session(engine, expire_on_commit=False) as session:
            existing = session.exec(
                select(HistoryArchive).where(HistoryArchive.workflow_id == workflow_id)
            ).first()
            if existing is not None:
                return existing
            last = session.exec(select(HistoryArchive).order_by(col(HistoryArchive.seq).desc())).first()
            previous = last.chain if last is not None else GENESIS
            entry = HistoryArchive(
                workflow_id=workflow_id,
                application_id=application_id,
                path=relative,
                sha256=digest,
                previous_chain=previous,
                chain=chain_value(previous, digest, workflow_id),
                events=len(history.get("events", [])),
            )
            session.add(entry)
            try:
                session.commit()
                return entry
            except IntegrityError:  # another archive took this place in the chain: append after it
                session.rollback()
    raise RuntimeError(f"could not append {workflow_id} to the archive chain; try again")


def read_archived(
    engine: Engine, data_dir: Path, workflow_id: str, settings: Settings | None = None
) -> dict[str, Any] | None:
    """An archived history, checked against its digest, its payloads decrypted with the payload keys
    of `settings` (else the process's settings), as `audit.export` returns a live one."""
    with Session(engine) as session:
        entry = session.exec(select(HistoryArchive).where(HistoryArchive.workflow_id == workflow_id)).first()
    if entry is None:
        return None
    body = (data_dir / entry.path).read_bytes()
    if hashlib.sha256(body).hexdigest() != entry.sha256:
        raise ValueError(f"the archived history of {workflow_id} does not match its digest")
    loaded: dict[str, Any] = json.loads(body)
    return decrypted(loaded, settings)


@dataclass
class ChainReport:
    entries: int
    problems: list[str]
    head: str = GENESIS  # the last chain value: note it down to detect a truncated tail later

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_chain(engine: Engine, data_dir: Path) -> ChainReport:
    with Session(engine) as session:
        entries = list(session.exec(select(HistoryArchive).order_by(col(HistoryArchive.seq))))
    problems: list[str] = []
    previous = GENESIS
    for entry in entries:
        where = f"entry {entry.seq} ({entry.workflow_id})"
        if entry.previous_chain != previous:
            problems.append(f"{where}: the chain is broken before it (an entry was removed or changed)")
        if entry.chain != chain_value(entry.previous_chain, entry.sha256, entry.workflow_id):
            problems.append(f"{where}: its chain value does not match its content")
        path = data_dir / entry.path
        if not path.exists():
            problems.append(f"{where}: the file {entry.path} is missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != entry.sha256:
            problems.append(f"{where}: the file {entry.path} was altered")
        previous = entry.chain
    listed = {entry.path for entry in entries}
    directory = data_dir / "archive"
    for path in sorted(directory.glob("*.json")) if directory.exists() else []:
        if f"archive/{path.name}" not in listed:
            problems.append(f"the file archive/{path.name} has no entry (its entry was removed)")
    return ChainReport(len(entries), problems, previous)


async def sweep(
    engine: Engine, client: Any, data_dir: Path, application_id: str | None = None
) -> tuple[int, list[str]]:
    """Archive the histories of closed applications that are not archived yet (or of one)."""

    def pending() -> list[str]:
        with Session(engine) as session:
            done = set(session.exec(select(HistoryArchive.workflow_id)).all())
            query = select(Application.workflow_id).where(col(Application.status).in_(list(FINAL_STATUSES)))
            if application_id is not None:
                query = select(Application.workflow_id).where(Application.id == application_id)
            return [w for w in session.exec(query).all() if w not in done]

    archived, skipped = 0, []
    for workflow_id in await asyncio.to_thread(pending):
        description = await client.get_workflow_handle(workflow_id).describe()
        if description.close_time is None:
            skipped.append(f"{workflow_id} is still running")
            continue
        history = await export(client, workflow_id, decode=False)  # as Temporal holds it: encrypted
        await asyncio.to_thread(archive_history, engine, data_dir, workflow_id, history)
        archived += 1
    return archived, skipped
