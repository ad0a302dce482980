"""Webhooks end to end on the real dev server: ops register an endpoint on a receiver listening on
loopback, a candidate goes from invitation to approval, and the receiver gets every event, each
verified by the reference `standardwebhooks` package as an integrator would verify it."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, col, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from offhours.models import User, WebhookDelivery, WebhookEndpoint
from offhours.settings import Settings
from offhours.webhooks.events import EVENT_TYPES
from tests.support.actors import STAFF, make_staff, unique_email
from tests.support.journeys import SCORECARD, answer_all
from tests.support.mail import Mailbox, smtp_port, token_from
from tests.support.receiver import Receiver, Reply, running_receiver
from tests.support.stack import Stack, webhook_settings

ALL_EVENTS = list(EVENT_TYPES)


@pytest.fixture
def settings(
    tmp_path: Path, smtp_server: tuple[Controller, Mailbox], request: pytest.FixtureRequest
) -> Settings:
    return webhook_settings(tmp_path, smtp_port(smtp_server[0]), request)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


async def register(stack: Stack, url: str, events: list[str] | None = None) -> dict[str, Any]:
    response = await stack.http.post(
        "/api/v1/webhooks",
        json={"url": url, "events": events or ALL_EVENTS, "description": "ATS sync"},
        headers=STAFF,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def approved_journey(stack: Stack, name: str = "Grace Hopper") -> tuple[str, str]:
    job = await stack.create_job("Support engineer")
    address = unique_email()
    application = await stack.invite(job["id"], address, name=name)
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    await answer_all(stack, token)
    submitted = await stack.http.post(f"/api/v1/candidate/{token}/submit")
    assert submitted.status_code == 200, submitted.text
    await stack.wait_status(application["id"], "in_review")
    reviewer = await stack.as_reviewer(application["id"])
    card = await stack.http.post(
        f"/api/v1/applications/{application['id']}/scorecards", json=SCORECARD, headers=reviewer
    )
    assert card.status_code == 201, card.text
    decision = await stack.http.post(
        f"/api/v1/applications/{application['id']}/decision",
        json={"decision": "approve", "reason": "We would love to meet Grace."},
        headers=STAFF,
    )
    assert decision.status_code == 200, decision.text
    return application["id"], address


async def test_every_event_of_a_journey_arrives_signed_in_order_without_personal_data(
    stack: Stack, receiver: Receiver
) -> None:
    endpoint = await register(stack, receiver.url)
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["enabled"] is True
    assert endpoint["events"] == ALL_EVENTS
    application_id, address = await approved_journey(stack)

    # invited -> interview (stage) -> submitted -> review (stage) -> scorecard -> decision ->
    # decide stage -> closed: at least these, in the application's own order
    await receiver.wait_for(7, timeout=60)
    await asyncio.sleep(1.0)  # anything more that was on its way
    events = receiver.verified(endpoint["secret"])
    types = [e["type"] for e in events]
    for expected in ALL_EVENTS[:-1]:
        assert expected in types, types
    mine = sorted(
        (e for e in events if e["data"]["application_id"] == application_id),
        key=lambda e: e["data"]["sequence"],
    )
    assert [e["data"]["sequence"] for e in mine] == list(range(1, len(mine) + 1))
    order = [e["type"] for e in mine]
    assert order[0] == "application.created"
    assert (
        order.index("application.submitted")
        < order.index("scorecard.submitted")
        < order.index("decision.made")
    )
    assert order[-1] == "application.closed"
    closed = mine[-1]
    assert closed["data"]["outcome"] == "approved"
    assert closed["data"]["status"] == "approved"
    decision = next(e for e in mine if e["type"] == "decision.made")
    assert decision["data"]["decision"] == "approve"
    changes = [e for e in mine if e["type"] == "application.stage_changed"]
    assert changes
    assert all(e["data"]["previous_stage"] != e["data"]["stage"] for e in changes)
    scorecard = next(e for e in mine if e["type"] == "scorecard.submitted")
    assert scorecard["data"]["scorecard"]["interviewer_id"] == "sam"
    for event in mine:
        assert set(event) == {"id", "type", "created_at", "data"}
        assert event["data"]["pipeline"]["name"] == "standard"
        assert event["data"]["job_id"]
        assert event["data"]["candidate_id"]
    # One webhook-id per event, the event's own id; nothing personal in any body.
    assert len({r.id for r in receiver.received}) == len(receiver.received)
    assert all(r.id == r.json()["id"] for r in receiver.received)
    for request in receiver.received:
        text = request.body.decode()
        for personal in ("Grace", "Hopper", address, "love to meet", "Clear, concrete"):
            assert personal not in text

    # The receiver can fetch details with a token: the ids in the event lead to the application.
    detail = await stack.http.get(f"/api/v1/applications/{application_id}", headers=STAFF)
    assert detail.json()["status"] == "approved"

    # Deliveries are listed as delivered, with their attempt.
    listed = await stack.http.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=STAFF)
    assert listed.status_code == 200
    rows = listed.json()
    assert len(rows) == len(receiver.received)
    assert {r["status"] for r in rows} == {"delivered"}
    assert all(r["attempts"] == 1 and r["last_status_code"] == 200 for r in rows)
    assert all(r["attempt_log"][0]["status_code"] == 200 for r in rows)


async def test_the_reference_library_refuses_a_tampered_body_an_old_timestamp_and_a_wrong_secret(
    stack: Stack, receiver: Receiver
) -> None:
    endpoint = await register(stack, receiver.url, ["application.created"])
    await stack.invite((await stack.create_job())["id"])
    [request] = await receiver.wait_for(1)
    hook = Webhook(endpoint["secret"])
    assert hook.verify(request.body, request.headers)["type"] == "application.created"
    timestamp = int(request.headers["webhook-timestamp"])
    assert abs(timestamp - time.time()) < 60

    tampered = request.body.replace(b'"application.created"', b'"application.erased"')
    with pytest.raises(WebhookVerificationError):
        hook.verify(tampered, request.headers)
    old = {**request.headers, "webhook-timestamp": str(timestamp - 3600)}
    with pytest.raises(WebhookVerificationError):
        hook.verify(request.body, old)
    wrong = "whsec_" + base64.b64encode(b"\x01" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(wrong).verify(request.body, request.headers)


async def test_a_rotated_secret_overlaps_then_only_the_new_one_signs(
    stack: Stack, receiver: Receiver
) -> None:
    endpoint = await register(stack, receiver.url, ["application.created"])
    rotated = await stack.http.post(
        f"/api/v1/webhooks/{endpoint['id']}/rotate-secret", json={"overlap_hours": 24}, headers=STAFF
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != endpoint["secret"]
    assert rotated.json()["previous_secret_expires_at"]
    job = (await stack.create_job())["id"]
    await stack.invite(job)
    [during] = await receiver.wait_for(1)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(endpoint["secret"]).verify(during.body, during.headers)  # receivers not switched yet
    Webhook(new_secret).verify(during.body, during.headers)  # receivers switched already

    # Without an overlap the previous secret stops signing at once.
    again = await stack.http.post(
        f"/api/v1/webhooks/{endpoint['id']}/rotate-secret", json={"overlap_hours": 0}, headers=STAFF
    )
    newest = again.json()["secret"]
    await stack.invite(job)
    [_, after] = await receiver.wait_for(2)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(newest).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret).verify(after.body, after.headers)


async def test_endpoints_are_for_ops_and_bad_requests_say_what_to_fix(
    stack: Stack, receiver: Receiver
) -> None:
    endpoint = await register(stack, receiver.url, ["decision.made"])
    listed = (await stack.http.get("/api/v1/webhooks", headers=STAFF)).json()
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in (await stack.http.get(f"/api/v1/webhooks/{endpoint['id']}", headers=STAFF)).json()
    # secrets are stored sealed, not as given
    with Session(stack.engine) as session:
        row = session.get(WebhookEndpoint, endpoint["id"])
        assert row is not None
        assert endpoint["secret"].encode() not in row.secret_sealed

    unknown = await stack.http.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": ["application.hired"]}, headers=STAFF
    )
    assert unknown.status_code == 422
    assert "events.0" in unknown.text  # which entry, and what the known types are
    assert "application.created" in unknown.text
    none = await stack.http.post("/api/v1/webhooks", json={"url": receiver.url, "events": []}, headers=STAFF)
    assert none.status_code == 422
    ftp = await stack.http.post(
        "/api/v1/webhooks", json={"url": "ftp://example.org/x", "events": ["decision.made"]}, headers=STAFF
    )
    assert ftp.status_code == 422
    assert "http" in ftp.json()["detail"]

    changed = await stack.http.patch(
        f"/api/v1/webhooks/{endpoint['id']}",
        json={"events": ["application.created", "decision.made"], "description": "Slack"},
        headers=STAFF,
    )
    assert changed.status_code == 200
    assert changed.json()["events"] == ["application.created", "decision.made"]
    assert (
        await stack.http.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"events": []}, headers=STAFF)
    ).status_code == 422
    assert (await stack.http.get("/api/v1/webhooks/wh_missing", headers=STAFF)).status_code == 404

    # Recruiters, reviewers and auditors manage no endpoint and see no delivery.
    for role in ("recruiter", "reviewer", "auditor"):
        headers = make_staff(stack, role).headers
        assert (await stack.http.get("/api/v1/webhooks", headers=headers)).status_code == 403
        refused = await stack.http.post(
            "/api/v1/webhooks", json={"url": receiver.url, "events": ["decision.made"]}, headers=headers
        )
        assert refused.status_code == 403
        base = f"/api/v1/webhooks/{endpoint['id']}"
        for method, path in (
            ("GET", base),
            ("PATCH", base),
            ("DELETE", base),
            ("POST", f"{base}/rotate-secret"),
            ("GET", f"{base}/deliveries"),
            ("POST", f"{base}/deliveries/dlv_any/retry"),
        ):
            answer = await stack.http.request(
                method, path, json={} if method != "GET" else None, headers=headers
            )
            assert answer.status_code == 403, (role, method, path)
    assert (await stack.http.get(f"/api/v1/webhooks/{endpoint['id']}", headers=STAFF)).json()["enabled"]

    deleted = await stack.http.delete(f"/api/v1/webhooks/{endpoint['id']}", headers=STAFF)
    assert deleted.status_code == 204
    assert (await stack.http.get(f"/api/v1/webhooks/{endpoint['id']}", headers=STAFF)).status_code == 404
    await stack.invite((await stack.create_job())["id"])
    await asyncio.sleep(1.5)
    assert receiver.received == []  # a deleted endpoint receives nothing
    with Session(stack.engine) as session:  # and no delivery was even written for it
        assert (
            session.exec(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint["id"])).all()
            == []
        )


async def test_a_disabled_endpoint_receives_nothing_until_enabled_and_a_delivery_can_be_retried(
    stack: Stack, receiver: Receiver
) -> None:
    endpoint = await register(stack, receiver.url, ["application.created"])
    receiver.reply(Reply(status=503, headers={"Retry-After": "3600"}))  # come back in an hour
    job = (await stack.create_job())["id"]
    await stack.invite(job)
    await receiver.wait_for(1)
    async with asyncio.timeout(20):
        while (
            rows := await stack.http.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=STAFF)
        ).json()[0]["status"] != "retrying":
            await asyncio.sleep(0.05)
    [delivery] = rows.json()
    assert delivery["next_attempt_at"] is not None
    # Ops retry it now rather than in an hour: the waiting run is woken and attempts at once.
    retried = await stack.http.post(
        f"/api/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/retry", headers=STAFF
    )
    assert retried.status_code == 202, retried.text
    assert retried.json()["action"] == "woken"
    second = await receiver.wait_for(2, timeout=20)
    assert second[0].id == second[1].id  # the same message, the same webhook-id
    await asyncio.sleep(0.5)
    done = (await stack.http.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=STAFF)).json()[0]
    assert done["status"] == "delivered"
    assert done["attempts"] == 2
    again = await stack.http.post(
        f"/api/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/retry", headers=STAFF
    )
    assert again.status_code == 409
    assert "delivered" in again.json()["detail"]

    off = await stack.http.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"enabled": False}, headers=STAFF)
    assert off.json()["enabled"] is False
    await stack.invite(job)
    await asyncio.sleep(1.5)
    assert len(receiver.received) == 2
    on = await stack.http.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"enabled": True}, headers=STAFF)
    assert on.json()["enabled"] is True
    assert on.json()["disabled_reason"] is None
    await stack.invite(job)
    third = await receiver.wait_for(3)
    assert third[2].json()["type"] == "application.created"
    with Session(stack.engine) as session:
        assert len(session.exec(select(WebhookDelivery)).all()) == 2  # none for the disabled time


async def test_a_receiver_answering_410_disables_the_endpoint_and_ops_are_told(
    stack: Stack, receiver: Receiver
) -> None:
    ops = [make_staff(stack, "ops") for _ in range(2)]
    with Session(stack.engine) as session:
        addresses = sorted(
            session.exec(select(User.email).where(col(User.id).in_([o.user_id for o in ops]))).all()
        )
    endpoint = await register(stack, receiver.url, ["application.created"])
    receiver.default = Reply(status=410)
    await stack.invite((await stack.create_job())["id"])
    await receiver.wait_for(1)
    async with asyncio.timeout(20):
        while (await stack.http.get(f"/api/v1/webhooks/{endpoint['id']}", headers=STAFF)).json()["enabled"]:
            await asyncio.sleep(0.1)
    shown = (await stack.http.get(f"/api/v1/webhooks/{endpoint['id']}", headers=STAFF)).json()
    assert "410" in shown["disabled_reason"]
    [delivery] = (await stack.http.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=STAFF)).json()
    assert delivery["status"] == "failed"
    assert delivery["last_status_code"] == 410
    await asyncio.sleep(6)  # past the first retry's wait: no second attempt
    assert len(receiver.received) == 1
    retry = await stack.http.post(
        f"/api/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/retry", headers=STAFF
    )
    assert retry.status_code == 409
    assert "enable it" in retry.json()["detail"]
    # Every active ops user is told once, in one message naming the endpoint and why.
    for address in addresses:
        [told] = await stack.mailbox.wait_for(address, 1)
        assert told.subject == f"Webhook endpoint disabled: http://127.0.0.1:{receiver.port}"
        assert "410" in told.text
        assert endpoint["id"] in told.text
    await stack.mailbox.settle()
    assert all(len(stack.mailbox.to(a)) == 1 for a in addresses)


@pytest.mark.public_only
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://[::1]:8443/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://172.16.0.9/hook", "private"),
        ("https://192.168.1.20/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://169.254.10.10/hook", "link-local"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://localhost:9000/hook", "loopback"),  # a name, resolved when registered
        ("http://93.184.216.34/hook", "https"),
    ],
)
async def test_an_endpoint_on_a_refused_address_is_refused_when_registered(
    stack: Stack, url: str, says: str
) -> None:
    assert stack.settings.WEBHOOK_ALLOW_PRIVATE is False
    refused = await stack.http.post(
        "/api/v1/webhooks", json={"url": url, "events": ["decision.made"]}, headers=STAFF
    )
    assert refused.status_code == 422, refused.text
    assert says in refused.json()["detail"]
    assert (await stack.http.get("/api/v1/webhooks", headers=STAFF)).json() == []
    # and a public address over https is taken (a literal: no DNS needed on this machine)
    taken = await stack.http.post(
        "/api/v1/webhooks",
        json={"url": "https://93.184.216.34/hook", "events": ["decision.made"]},
        headers=STAFF,
    )
    assert taken.status_code == 201, taken.text
    moved = await stack.http.patch(f"/api/v1/webhooks/{taken.json()['id']}", json={"url": url}, headers=STAFF)
    assert moved.status_code == 422  # nor can an endpoint be moved there


async def test_an_erasure_closes_the_open_application_and_says_it_was_erased(
    stack: Stack, receiver: Receiver
) -> None:
    endpoint = await register(stack, receiver.url, ["application.closed", "application.erased"])
    application = await stack.invite((await stack.create_job())["id"], name="Ada Lovelace")
    erased = await stack.http.post(
        f"/api/v1/applications/{application['id']}/erasure", json={"reason": "asked by Ada"}, headers=STAFF
    )
    assert erased.status_code == 202, erased.text
    await receiver.wait_for(2, timeout=30)
    events = sorted(receiver.verified(endpoint["secret"]), key=lambda e: e["data"]["sequence"])
    assert [e["type"] for e in events] == ["application.closed", "application.erased"]
    assert events[0]["data"]["outcome"] == "withdrawn"
    assert events[1]["data"]["sequence"] == events[0]["data"]["sequence"] + 1
    assert all(e["data"]["application_id"] == application["id"] for e in events)
    assert all(b"Ada" not in r.body for r in receiver.received)
