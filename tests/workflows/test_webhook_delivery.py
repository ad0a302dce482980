"""Webhook deliveries under failure: the receiver down for a while, Retry-After, an endpoint failing
for days, a worker killed mid-delivery, a DNS answer turned to loopback. Durable timers run on the
time-skipping server (days in seconds); the receiver is a real HTTP server on loopback and every
delivery it takes is verified with `standardwebhooks`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, select
from temporalio.client import Client

from offhours.ids import webhook_delivery_workflow
from offhours.models import User, WebhookAttempt, WebhookDelivery
from offhours.settings import Settings
from offhours.webhooks import net
from offhours.webhooks.events import RETRY_SCHEDULE
from operations.audit import export
from tests.api.test_worker_restart import start_worker
from tests.support.actors import STAFF, make_staff
from tests.support.mail import Mailbox, smtp_port
from tests.support.receiver import Receiver, Reply, running_receiver
from tests.support.stack import Stack, webhook_settings

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


@pytest.fixture
def settings(
    tmp_path: Path, smtp_server: tuple[Controller, Mailbox], request: pytest.FixtureRequest
) -> Settings:
    return webhook_settings(tmp_path, smtp_port(smtp_server[0]), request)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


async def register(stack: Stack, url: str) -> dict[str, Any]:
    response = await stack.http.post(
        "/api/v1/webhooks", json={"url": url, "events": ["application.created"]}, headers=STAFF
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def deliveries(stack: Stack, endpoint_id: str) -> list[dict[str, Any]]:
    response = await stack.http.get(f"/api/v1/webhooks/{endpoint_id}/deliveries", headers=STAFF)
    assert response.status_code == 200, response.text
    return list(response.json())


async def waits(client: Client, delivery_id: str, run: int = 1) -> list[timedelta]:
    """The durable timers a delivery's workflow started, in order: its waits between attempts."""
    history = await client.get_workflow_handle(webhook_delivery_workflow(delivery_id, run)).fetch_history()
    return [
        event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for event in history.events
        if event.HasField("timer_started_event_attributes")
    ]


async def record(stack: Stack, delivery_id: str, name: str) -> None:
    """With OFFHOURS_RECORD_HISTORIES set, save the delivery's history to the replay corpus
    (tests/histories/webhook-delivery--NAME.json), decrypted as `offhours audit export` writes it."""
    if not os.environ.get("OFFHOURS_RECORD_HISTORIES"):
        return
    path = HISTORIES / f"webhook-delivery--{name}.json"
    if path.exists() and os.environ["OFFHOURS_RECORD_HISTORIES"] != "overwrite":
        return
    path.write_text(json.dumps(await export(stack.client, webhook_delivery_workflow(delivery_id))) + "\n")


async def settled(stack: Stack, endpoint_id: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            rows = await deliveries(stack, endpoint_id)
            if rows and rows[0]["status"] == status:
                return rows[0]
            await asyncio.sleep(0.1)


async def test_a_receiver_down_for_a_while_gets_the_event_once_it_is_back_with_one_id(
    skipping_stack: Stack, receiver: Receiver
) -> None:
    stack = skipping_stack
    endpoint = await register(stack, receiver.url)
    # Down: two connections dropped, then a 503 from a proxy in front of it; then back.
    receiver.reply(Reply(drop=True), Reply(drop=True), Reply(status=503))
    await stack.invite((await stack.create_job())["id"])
    await receiver.wait_for(1)
    for _ in range(20):  # durable waits of 5 s, 5 min and 30 min pass in moments
        await stack.env.sleep(timedelta(minutes=10))
        if len(receiver.received) >= 4:
            break
    requests = await receiver.wait_for(4)
    await stack.env.sleep(timedelta(hours=30))
    assert len(receiver.received) == 4  # delivered: no attempt after the 2xx
    assert len({r.id for r in requests}) == 1  # one webhook-id for the one event
    events = receiver.verified(endpoint["secret"])
    assert {e["type"] for e in events} == {"application.created"}
    row = await settled(stack, endpoint["id"], "delivered")
    assert row["attempts"] == 4
    assert [a["status_code"] for a in row["attempt_log"]] == [None, None, 503, 200]
    assert row["attempt_log"][0]["error"]  # what went wrong is kept, for ops
    assert await waits(stack.client, row["id"]) == list(RETRY_SCHEDULE[:3])
    await record(stack, row["id"], "delivered-after-retries")


async def test_retry_after_lengthens_the_schedules_wait_and_never_shortens_it(
    skipping_stack: Stack, receiver: Receiver
) -> None:
    stack = skipping_stack
    endpoint = await register(stack, receiver.url)
    receiver.reply(
        Reply(status=429, headers={"Retry-After": "3600"}),  # later than the schedule's 5 s: taken
        Reply(status=503, headers={"Retry-After": "0"}),  # sooner than its 5 min: not taken
    )
    await stack.invite((await stack.create_job())["id"])
    await receiver.wait_for(1)
    await stack.env.sleep(timedelta(minutes=59))
    assert len(receiver.received) == 1  # not after 5 s: the receiver asked for an hour
    await stack.env.sleep(timedelta(minutes=2))
    await receiver.wait_for(2)
    await stack.env.sleep(timedelta(minutes=6))
    await receiver.wait_for(3)
    row = await settled(stack, endpoint["id"], "delivered")
    assert await waits(stack.client, row["id"]) == [timedelta(hours=1), RETRY_SCHEDULE[1]]


async def test_an_endpoint_failing_for_five_days_is_disabled_and_ops_are_emailed_once(
    skipping_stack: Stack, receiver: Receiver
) -> None:
    stack = skipping_stack
    ops = make_staff(stack, "ops")
    with Session(stack.engine) as session:
        user = session.get(User, ops.user_id)
        assert user is not None
        address = user.email
    endpoint = await register(stack, receiver.url)
    receiver.default = Reply(status=500)
    job = (await stack.create_job())["id"]
    await stack.invite(job)
    await receiver.wait_for(1)
    await stack.env.sleep(timedelta(days=2, hours=12))
    assert (await stack.http.get(f"/api/v1/webhooks/{endpoint['id']}", headers=STAFF)).json()["enabled"]
    await stack.invite(job)  # a second event, while the first is still being retried
    async with asyncio.timeout(30):
        while len(await deliveries(stack, endpoint["id"])) < 2:
            await asyncio.sleep(0.1)
    for _ in range(40):
        await stack.env.sleep(timedelta(hours=6))
        shown = (await stack.http.get(f"/api/v1/webhooks/{endpoint['id']}", headers=STAFF)).json()
        if not shown["enabled"]:
            break
    assert shown["enabled"] is False
    assert "no successful delivery since" in shown["disabled_reason"]
    spell = datetime.fromisoformat(shown["disabled_at"]) - datetime.fromisoformat(shown["failing_since"])
    assert timedelta(days=5) <= spell < timedelta(days=6)  # at the first failure past five days
    first, second = sorted(await deliveries(stack, endpoint["id"]), key=lambda d: d["created_at"])
    assert first["status"] == "failed"
    assert first["attempts"] == 10  # the whole schedule: ten attempts over about three days
    assert second["status"] == "failed"
    await record(stack, first["id"], "gave-up")
    await record(stack, second["id"], "endpoint-disabled")
    [told] = await stack.mailbox.wait_for(address, 1)
    assert told.subject == f"Webhook endpoint disabled: http://127.0.0.1:{receiver.port}"
    assert endpoint["id"] in told.text
    await stack.env.sleep(timedelta(days=2))
    await stack.mailbox.settle()
    assert len(stack.mailbox.to(address)) == 1
    count = len(receiver.received)
    await stack.invite(job)
    await asyncio.sleep(1.5)
    assert len(receiver.received) == count  # disabled: no new delivery at all

    # The receiver is mended; ops enable the endpoint and retry the first event: a new run delivers
    # it, with the webhook-id it always had.
    receiver.default = Reply(status=204)
    enabled = await stack.http.patch(
        f"/api/v1/webhooks/{endpoint['id']}", json={"enabled": True}, headers=STAFF
    )
    assert enabled.json()["failing_since"] is None
    retried = await stack.http.post(
        f"/api/v1/webhooks/{endpoint['id']}/deliveries/{first['id']}/retry", headers=STAFF
    )
    assert retried.status_code == 202, retried.text
    assert retried.json()["action"] == "started"
    await receiver.wait_for(count + 1)
    assert receiver.received[-1].id == first["event_id"]
    async with asyncio.timeout(30):
        while (row := next(d for d in await deliveries(stack, endpoint["id"]) if d["id"] == first["id"]))[
            "status"
        ] != "delivered":
            await asyncio.sleep(0.1)
    assert row["attempts"] == 11
    assert [a["run"] for a in row["attempt_log"]] == [1] * 10 + [2]


@pytest.mark.public_only
async def test_a_name_that_resolves_to_loopback_at_delivery_is_refused(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    assert stack.settings.WEBHOOK_ALLOW_PRIVATE is False
    # DNS is the one part faked: nothing else makes a public name answer 127.0.0.1 on this machine.
    answers = {"hooks.example.test": "93.184.216.34"}

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(net, "getaddrinfo", getaddrinfo)
    endpoint = await register(stack, "https://hooks.example.test/offhours")
    answers["hooks.example.test"] = "127.0.0.1"  # the name now points at this machine
    await stack.invite((await stack.create_job())["id"])
    async with asyncio.timeout(30):
        while not (rows := await deliveries(stack, endpoint["id"])) or not rows[0]["attempt_log"]:
            await asyncio.sleep(0.1)
    attempt = rows[0]["attempt_log"][0]
    assert attempt["status_code"] is None
    assert "loopback" in attempt["error"]
    assert rows[0]["status"] == "retrying"


async def test_a_worker_killed_mid_delivery_delivers_with_the_same_id(
    bare_stack: Stack, receiver: Receiver, tmp_path: Path
) -> None:
    stack = bare_stack
    endpoint = await register(stack, receiver.url)
    receiver.reply(Reply(hang=True))  # the first request is taken and never answered
    log = tmp_path / "worker.log"
    first = start_worker(stack.settings, stack.env, log)
    try:
        await stack.invite((await stack.create_job())["id"])
        await receiver.wait_for(1, timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)  # mid-request
        first.wait()
    second = start_worker(stack.settings, stack.env, log)
    try:
        requests = await receiver.wait_for(2, timeout=60)
        assert requests[0].id == requests[1].id
        assert requests[0].body == requests[1].body
        receiver.verified(endpoint["secret"])
        row = await settled(stack, endpoint["id"], "delivered", timeout=30)
        assert row["attempts"] == 1  # the lost attempt never got to record itself
        assert row["attempt_log"][0]["number"] == 2  # it was the second attempt that delivered
        # noticed by the heartbeat timeout (10 s), then the schedule's first wait (5 s)
        assert requests[1].at - requests[0].at >= 10
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    with Session(stack.engine) as session:
        assert len(session.exec(select(WebhookDelivery)).all()) == 1
        assert session.exec(select(WebhookAttempt)).all()[-1].status_code == 200
