"""Waiting until the workflows of a test have nothing in flight.

The Temporal servers are shared by the session. A workflow terminated while one of its activities (or
workflow tasks) is in flight leaves the time-skipping server's clock locked until that activity times
out in real time: every later `env.sleep` then hangs. So a test's workflows are left quiet (no activity
and no workflow task in flight, in them or in their child workflows) before they are terminated."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from offhours.ids import webhook_delivery_workflow
from offhours.models import Application, WebhookDelivery

if TYPE_CHECKING:
    from tests.support.stack import Stack


def workflow_ids(engine: Engine) -> list[str]:
    """The workflow of every application in the test's database, and of every webhook delivery."""
    with Session(engine) as session:
        applications = list(session.exec(select(Application.workflow_id)).all())
        deliveries = session.exec(select(WebhookDelivery.id, WebhookDelivery.runs)).all()
    runs = [webhook_delivery_workflow(d, run) for d, last in deliveries for run in range(1, max(last, 1) + 1)]
    return applications + runs


async def in_flight(client: Client, workflow_id: str) -> list[str]:
    """What a running workflow (or its child workflows) still has in flight: activities, tasks."""
    with contextlib.suppress(RPCError):  # a workflow that never started has nothing in flight
        description = await client.get_workflow_handle(workflow_id).describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return []
        raw = description.raw_description
        busy = [f"{workflow_id}: {a.activity_type.name}" for a in raw.pending_activities]
        if raw.HasField("pending_workflow_task"):
            busy.append(f"{workflow_id}: workflow task")
        for child in raw.pending_children:
            busy += await in_flight(client, child.workflow_id)
        return busy
    return []


async def until_quiet(
    client: Client, ids: Iterable[str], *, timeout: float = 20.0, checks: int = 3, interval: float = 0.1
) -> None:
    """Return once `checks` looks in a row, `interval` apart, found nothing in flight in the workflows
    `ids`; raise TimeoutError after `timeout` seconds."""
    ids = list(ids)
    quiet = 0
    async with asyncio.timeout(timeout):
        while quiet < checks:
            busy = [b for workflow_id in ids for b in await in_flight(client, workflow_id)]
            quiet = 0 if busy else quiet + 1
            if quiet < checks:
                await asyncio.sleep(interval)


async def wait_until_quiet(stack: Stack, ids: Iterable[str] | None = None, timeout: float = 20.0) -> None:
    """Wait until the test's workflows (all of its applications, or those of `ids`) are quiet. A
    workflow still busy after `timeout` is the test's own failure, reported already: no error here."""
    with contextlib.suppress(TimeoutError):
        await until_quiet(stack.client, workflow_ids(stack.engine) if ids is None else ids, timeout=timeout)
