"""Builds the Temporal client and runs the worker: registers the workflows and the activities."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities import build_activities
from offhours.codec import data_converter, with_codec
from offhours.db import get_engine
from offhours.settings import Settings
from workflows import WORKFLOWS

log = logging.getLogger("offhours.worker")


async def connect(settings: Settings, wait_seconds: float = 60.0) -> Client:
    """Connect to Temporal, retrying while it starts (a worker may come up before the server)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            return await Client.connect(
                settings.TEMPORAL_ADDRESS,
                namespace=settings.TEMPORAL_NAMESPACE,
                data_converter=data_converter(settings),
            )
        except Exception as error:
            if loop.time() >= deadline:
                raise
            log.info("Temporal at %s not ready (%s); retrying", settings.TEMPORAL_ADDRESS, error)
            await asyncio.sleep(1)


def build_worker(
    client: Client,
    settings: Settings,
    engine: Engine | None = None,
    *,
    task_queue: str | None = None,
    activities: Sequence[Any] | None = None,
    max_threads: int = 16,
) -> Worker:
    engine = engine or get_engine(settings.DATABASE_URL)
    return Worker(
        with_codec(client, settings),  # whatever client it is given, payloads are encrypted
        task_queue=task_queue or settings.TASK_QUEUE,
        workflows=WORKFLOWS,
        activities=list(activities) if activities is not None else build_activities(engine, settings),
        activity_executor=ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="activity"),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run_worker(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM, then finish in-flight tasks and stop."""
    client = await connect(settings)
    worker = build_worker(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    archiving = asyncio.create_task(archive_closed_histories(client, settings, stop))
    dispatching = asyncio.create_task(dispatch_webhooks(client, settings, stop))
    async with worker:
        log.info("worker polling task queue %s on %s", settings.TASK_QUEUE, settings.TEMPORAL_ADDRESS)
        await stop.wait()
        log.info("worker stopping")
    await archiving
    await dispatching


async def dispatch_webhooks(
    client: Client, settings: Settings, stop: asyncio.Event, engine: Engine | None = None
) -> None:
    """Start the delivery workflow of each webhook event (operations/webhooks.py)."""
    from operations.webhooks import run_dispatcher

    await run_dispatcher(
        engine or get_engine(settings.DATABASE_URL), with_codec(client, settings), settings, stop
    )


async def archive_closed_histories(client: Client, settings: Settings, stop: asyncio.Event) -> None:
    """Every ARCHIVE_EVERY_SECONDS, archive the histories of applications that have closed, before
    Temporal's retention deletes them (0 turns it off, e.g. when a cron job runs `offhours audit
    archive`). Failures are logged and tried again on the next round."""
    if settings.ARCHIVE_EVERY_SECONDS == 0:
        return
    from operations.archive import sweep

    engine = get_engine(settings.DATABASE_URL)
    while not stop.is_set():
        try:
            archived, _ = await sweep(engine, client, settings.DATA_DIR)
            if archived:
                log.info("archived %d closed histories", archived)
        except Exception as error:  # noqa: BLE001 (the sweep runs again; a worker never stops for it)
            log.warning("archiving closed histories failed (tried again later): %s", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.ARCHIVE_EVERY_SECONDS)
