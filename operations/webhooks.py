"""Webhook endpoints managed by ops, and the dispatcher that starts each delivery's workflow.

Endpoints: registered with a URL (checked by the SSRF guard), the event types they want and a
description; the secret is answered once and stored sealed. Rotating a secret keeps the previous one
signing for WEBHOOK_SECRET_OVERLAP_HOURS, so receivers can switch without losing a message.

Dispatcher: deliveries are written with their event (activities/webhooks.emit); the worker starts a
`WebhookDelivery` workflow for each one not started yet, at once when an activity of the same worker
emitted it and every WEBHOOK_DISPATCH_SECONDS otherwise (events emitted by the API or another worker).
A delivery's workflow id is fixed by the delivery and its run, so several workers dispatching the
same delivery start it once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.webhooks import on_emitted
from offhours import ids
from offhours.contracts import DeliveryRun
from offhours.db import session_scope
from offhours.models import WebhookDelivery, WebhookEndpoint, new_id, utcnow
from offhours.settings import Settings
from offhours.webhooks import net, signing
from offhours.webhooks.events import EVENT_TYPES, unknown_types
from offhours.webhooks.secrets import seal
from workflows.webhook_delivery import WebhookDeliveryWorkflow

log = logging.getLogger("offhours.webhooks")
BATCH = 200


class EndpointError(ValueError):
    """What is wrong with a request about an endpoint, in words for whoever sent it (422)."""


class DeliveryConflict(RuntimeError):
    """A delivery that cannot be retried now (409)."""


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise EndpointError(f"events: name at least one event type ({', '.join(EVENT_TYPES)})")
    unknown = unknown_types(events)
    if unknown:
        raise EndpointError(
            f"events: unknown event type(s) {', '.join(unknown)}; known types are {', '.join(EVENT_TYPES)}"
        )
    return list(dict.fromkeys(events))


async def check_url(settings: Settings, url: str) -> str:
    try:
        return await asyncio.to_thread(
            net.check_url,
            url,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
            development=settings.is_development,
        )
    except net.RefusedAddress as refused:
        raise EndpointError(f"url: {refused}") from None


@dataclass
class Registered:
    endpoint: WebhookEndpoint
    secret: str


def register(
    session: Session, settings: Settings, *, url: str, events: list[str], description: str, created_by: str
) -> Registered:
    """A new endpoint (the URL checked by the caller with check_url); its secret, answered once."""
    endpoint_id = new_id("wh")
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        url=url,
        events=check_events(events),
        description=description,
        secret_sealed=seal(settings, endpoint_id, secret),
        created_by=created_by,
    )
    session.add(endpoint)
    session.commit()
    session.refresh(endpoint)
    return Registered(endpoint, secret)


def rotate_secret(
    session: Session, settings: Settings, endpoint: WebhookEndpoint, overlap_hours: int | None
) -> str:
    hours = settings.WEBHOOK_SECRET_OVERLAP_HOURS if overlap_hours is None else overlap_hours
    secret = signing.new_secret()
    now = utcnow()
    endpoint.previous_secret_sealed = endpoint.secret_sealed if hours > 0 else None
    endpoint.previous_secret_expires_at = now + timedelta(hours=hours) if hours > 0 else None
    endpoint.secret_sealed = seal(settings, endpoint.id, secret)
    endpoint.updated_at = now
    session.add(endpoint)
    session.commit()
    session.refresh(endpoint)
    return secret


def enable(endpoint: WebhookEndpoint, enabled: bool) -> None:
    if enabled and not endpoint.enabled:
        endpoint.enabled = True
        endpoint.disabled_at = endpoint.disabled_reason = endpoint.disabled_notice = None
        endpoint.failing_since = None
    elif not enabled and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_at = utcnow()
        endpoint.disabled_reason = "disabled by ops"
        endpoint.disabled_notice = "sent"  # ops did it: nobody to tell


# ------------------------------------------------------------------------------------ dispatching


async def start_delivery(client: Client, settings: Settings, delivery_id: str, run: int) -> None:
    # Started already by another worker, or by an earlier try of this one: nothing to do.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            WebhookDeliveryWorkflow.run,
            DeliveryRun(delivery_id, run),
            id=ids.webhook_delivery_workflow(delivery_id, run),
            task_queue=settings.TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )


def _undispatched(engine: Engine) -> list[tuple[str, int]]:
    with Session(engine) as session:
        rows = session.exec(
            select(WebhookDelivery.id, WebhookDelivery.runs)
            .where(col(WebhookDelivery.dispatched_at).is_(None))
            .order_by(col(WebhookDelivery.created_at))
            .limit(BATCH)
        ).all()
    return [(delivery_id, max(runs, 1)) for delivery_id, runs in rows]


def _mark_dispatched(engine: Engine, delivery_id: str, run: int) -> None:
    with session_scope(engine) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is not None and delivery.dispatched_at is None:
            delivery.dispatched_at, delivery.runs = utcnow(), run
            session.add(delivery)


async def dispatch(engine: Engine, client: Client, settings: Settings) -> int:
    """Start the workflow of every delivery not started yet; returns how many were started."""
    started = 0
    while batch := await asyncio.to_thread(_undispatched, engine):
        for delivery_id, run in batch:
            await start_delivery(client, settings, delivery_id, run)
            await asyncio.to_thread(_mark_dispatched, engine, delivery_id, run)
            started += 1
        if len(batch) < BATCH:
            break
    return started


async def run_dispatcher(engine: Engine, client: Client, settings: Settings, stop: asyncio.Event) -> None:
    """The worker's loop: dispatch when an activity emitted, and every WEBHOOK_DISPATCH_SECONDS."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def emitted() -> None:
        loop.call_soon_threadsafe(wake.set)

    remove = on_emitted(emitted)
    try:
        while not stop.is_set():
            wake.clear()
            try:
                await dispatch(engine, client, settings)
            except Exception as error:  # noqa: BLE001 (the next round tries again)
                log.warning("starting webhook deliveries failed (tried again): %s", error)
            waiting = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED),
                    timeout=settings.WEBHOOK_DISPATCH_SECONDS,
                )
            for task in waiting:
                task.cancel()
    finally:
        remove()


async def retry(engine: Engine, client: Client, settings: Settings, delivery: WebhookDelivery) -> str:
    """Ops retry a delivery: attempted now. A run still waiting is woken (same run); an ended one
    is followed by a new run. Returns "woken" or "started"."""
    with Session(engine) as session:
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or endpoint.deleted_at is not None:
        raise DeliveryConflict("the endpoint was deleted")
    if not endpoint.enabled:
        raise DeliveryConflict('the endpoint is disabled: enable it first (PATCH with {"enabled": true})')
    if delivery.status == "delivered":
        raise DeliveryConflict("this delivery was delivered already; the receiver has it")
    run = max(delivery.runs, 1)
    if delivery.dispatched_at is not None:
        handle = client.get_workflow_handle(ids.webhook_delivery_workflow(delivery.id, run))
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            description = None
        if description is not None and description.status == WorkflowExecutionStatus.RUNNING:
            await handle.signal(WebhookDeliveryWorkflow.retry_now)
            return "woken"
        run += 1
    # The new run is written down first, as not started: should starting it fail here, the
    # dispatcher starts it; and the run's own attempts always come after this write. Written only
    # if nobody moved the delivery on since it was read (a second click, the dispatcher, a run
    # that just delivered it): then this retry is not needed.
    with session_scope(engine) as session:
        claimed = session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == delivery.id,
                col(WebhookDelivery.runs) == delivery.runs,
                col(WebhookDelivery.status) == delivery.status,
                col(WebhookDelivery.status) != "delivered",
            )
            .values(runs=run, dispatched_at=None, status="pending", next_attempt_at=None)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            raise DeliveryConflict("the delivery changed meanwhile (retried or delivered); look again")
    await start_delivery(client, settings, delivery.id, run)
    await asyncio.to_thread(_mark_dispatched, engine, delivery.id, run)
    return "started"
