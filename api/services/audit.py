"""An application's Temporal history for auditors: exported (from Temporal, else from the product's
archive), replayed against the current workflow code, and read as a business timeline."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError

from api.deps import Principal
from api.errors import NotFound
from api.personal import privacy_timeline
from api.services.access import load_application
from offhours import ids
from offhours.settings import Settings
from operations import audit
from operations.archive import read_archived


async def history(
    session: Session,
    engine: Engine,
    settings: Settings,
    client: Client,
    staff: Principal,
    application_id: str,
) -> dict[str, Any]:
    """The full history, as `temporal workflow show -o json` writes it."""
    application = load_application(session, application_id, staff)
    session.commit()
    try:
        return await audit.export(client, application.workflow_id)
    except RPCError as error:
        # Gone from Temporal (retention): the product's archive still has it, checked against its digest.
        archived = read_archived(engine, settings.DATA_DIR, application.workflow_id, settings)
        if archived is not None:
            return archived
        raise NotFound(
            f"the history of '{application_id}' is neither in Temporal nor archived: {error.message}"
        ) from None


async def replay(exported: dict[str, Any], application_id: str) -> audit.ReplayReport:
    return await audit.replay(exported, ids.application_workflow(application_id))


async def replay_summary(exported: dict[str, Any], application_id: str) -> dict[str, Any]:
    report = await replay(exported, application_id)
    return {**dataclasses.asdict(report), "outcomes_match": report.outcomes_match}


def history_events(exported: dict[str, Any]) -> list[dict[str, Any]]:
    """The business events the history records (operations.audit.timeline)."""
    return audit.timeline(exported)


def timeline(
    session: Session, staff: Principal, application_id: str, exported: dict[str, Any]
) -> dict[str, Any]:
    """The business timeline from the history alone, with the privacy events (not in any history)."""
    application = load_application(session, application_id, staff)
    events = history_events(exported) + privacy_timeline(session, application)
    return {"application_id": application_id, "events": events}
