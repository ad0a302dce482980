"""The payload codec: everything Temporal stores is encrypted (AES-256-GCM), keys rotate, failures
are encoded too, and only ops and auditors can have payloads decoded through the codec endpoint."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.deps import SESSION_COOKIE
from offhours import accounts
from offhours.codec import ENCODING, KEY_ID, CodecError, EncryptionCodec, decode_history, is_encrypted
from offhours.models import User
from offhours.settings import SettingsError, load_settings, new_key, parse_keys
from operations import audit
from tests.support.actors import STAFF, Staff, make_staff, unique_email
from tests.support.mail import token_from
from tests.support.stack import Stack


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_round_trip_rotation_and_tampering() -> None:
    old = parse_keys(new_key("old"))
    new = parse_keys(new_key("new"))
    [sealed] = await EncryptionCodec(old).encode([payload("hello")])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"old"
    assert b"hello" not in sealed.data
    rotated = EncryptionCodec(new + old)  # a new key put first: it encrypts, both decrypt
    assert (await rotated.decode([sealed]))[0] == payload("hello")
    [fresh] = await rotated.encode([payload("hello")])
    assert fresh.metadata[KEY_ID] == b"new"
    with pytest.raises(CodecError, match="'new'"):
        await EncryptionCodec(old).decode([fresh])  # a key no longer (or not yet) listed
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(CodecError, match="does not decrypt"):
        await rotated.decode([tampered])
    plain = payload("recorded before encryption")
    assert (await rotated.decode([plain]))[0] == plain  # unencrypted payloads pass through


def test_keys_are_required_outside_development_and_checked() -> None:
    base = {"ENVIRONMENT": "production", "SECRET_KEY": "codec-test-secret-key-0123456789abcdef"}
    with pytest.raises(SettingsError, match="OFFHOURS_PAYLOAD_KEYS is required"):
        load_settings(**base, MASTER_KEYS=new_key("m"))
    with pytest.raises(SettingsError, match="OFFHOURS_MASTER_KEYS is required"):
        load_settings(**base, PAYLOAD_KEYS=new_key("p"))
    short = "k1:" + base64.b64encode(b"x" * 16).decode()
    with pytest.raises(SettingsError, match="must be 32 bytes") as error:
        load_settings(**base, PAYLOAD_KEYS=short, MASTER_KEYS=new_key("m"))
    assert "OFFHOURS_PAYLOAD_KEYS" in str(error.value)
    assert "os.urandom(32)" in str(error.value)
    with pytest.raises(SettingsError, match="OFFHOURS_MASTER_KEYS"):
        load_settings(**base, PAYLOAD_KEYS=new_key("p"), MASTER_KEYS="no-key-id")
    key = new_key("same")
    with pytest.raises(SettingsError, match="listed twice"):
        load_settings(**base, PAYLOAD_KEYS=f"{key},{key}", MASTER_KEYS=new_key("m"))
    ok = load_settings(**base, PAYLOAD_KEYS=new_key("p2") + "," + new_key("p1"), MASTER_KEYS=new_key("m"))
    assert [k for k, _ in ok.payload_keys()] == ["p2", "p1"]


def payloads_of(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "data" in node and isinstance(node.get("metadata"), dict):
            found.append(node)
        for value in node.values():
            found += payloads_of(value)
    elif isinstance(node, list):
        for value in node:
            found += payloads_of(value)
    return found


async def test_temporal_holds_only_ciphertext_and_failures_are_encoded(stack: Stack) -> None:
    job = await stack.create_job("Support engineer")
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    # An update the workflow refuses: its failure message is encoded, not written in clear.
    early = await stack.http.post(f"/api/v1/candidate/{token}/submit")
    assert early.status_code == 409
    assert "motivation" in early.json()["detail"]
    # Raw, as Temporal stores and shows it (no codec): every payload is ciphertext with its key id.
    workflow_id = f"application-{application['id']}"
    raw = (await stack.env.client.get_workflow_handle(workflow_id).fetch_history()).to_json_dict()
    found = payloads_of(raw)
    assert found, "the history has payloads"
    key_id = stack.settings.payload_keys()[0][0]
    for node in found:
        assert is_encrypted(node), node
        assert base64.b64decode(node["metadata"][KEY_ID]).decode() == key_id
        assert application["id"].encode() not in base64.b64decode(node["data"])
    text = json.dumps(raw)
    assert "answer every required question" not in text
    # Decoded with the keys, the same history reads in clear.
    decoded = decode_history(raw, EncryptionCodec(stack.settings.payload_keys()))
    plain = "".join(base64.b64decode(p["data"]).decode("utf-8", "replace") for p in payloads_of(decoded))
    assert application["id"] in plain
    assert not any(is_encrypted(p) for p in payloads_of(decoded))
    assert await audit.export(stack.client, workflow_id) == decoded  # what auditors export
    # The raw (encrypted) history replays and reads as a timeline with the keys.
    report = await audit.replay(raw, workflow_id, stack.settings)
    assert report.deterministic, report.error
    assert audit.timeline(raw, stack.settings) == audit.timeline(decoded)


@activity.defn(name="codec_test_refuse")
async def refuse(reason: str) -> None:
    raise ApplicationError(reason, non_retryable=True)


@workflow.defn(name="CodecTestFailing", sandboxed=False)
class Failing:
    @workflow.run
    async def run(self, reason: str) -> None:
        await workflow.execute_activity(
            refuse,
            reason,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


async def test_failure_messages_and_stack_traces_are_encrypted(stack: Stack) -> None:
    secret = f"refused for reason {uuid.uuid4().hex}"
    queue = f"codec-{uuid.uuid4().hex[:8]}"
    async with Worker(
        stack.client,
        task_queue=queue,
        workflows=[Failing],
        activities=[refuse],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await stack.client.start_workflow(
            Failing.run, secret, id=f"codec-failing-{uuid.uuid4().hex}", task_queue=queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    # Through the codec, the caller reads the real message.
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    assert secret in str(activity_error.cause)
    raw = (await stack.env.client.get_workflow_handle(handle.id).fetch_history()).to_json_dict()
    text = json.dumps(raw)
    assert secret not in text
    assert "Encoded failure" in text
    failures = [
        e["activityTaskFailedEventAttributes"]["failure"]
        for e in raw["events"]
        if "activityTaskFailedEventAttributes" in e
    ]
    assert failures
    assert all(is_encrypted(f["encodedAttributes"]) for f in failures)
    assert all(f["message"] == "Encoded failure" and not f.get("stackTrace") for f in failures)
    # An auditor's export shows the message again.
    exported = await audit.export(stack.client, handle.id)
    [opened] = [
        e["activityTaskFailedEventAttributes"]["failure"]
        for e in exported["events"]
        if "activityTaskFailedEventAttributes" in e
    ]
    assert opened["message"] == secret


async def test_codec_endpoint_for_ops_and_auditors_only(stack: Stack) -> None:
    codec = EncryptionCodec(stack.settings.payload_keys())
    [sealed] = await codec.encode([payload("decode me")])
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                "data": base64.b64encode(sealed.data).decode(),
            }
        ]
    }
    team: dict[str, Staff] = {r: make_staff(stack, r) for r in ("ops", "auditor", "recruiter", "reviewer")}
    origin = stack.settings.TEMPORAL_UI_ORIGIN
    for role in ("ops", "auditor"):
        response = await stack.http.post(
            "/codec/decode",
            json=body,
            headers={**team[role].headers, "Origin": origin, "X-Namespace": "default"},
        )
        assert response.status_code == 200, (role, response.text)
        [decoded] = response.json()["payloads"]
        assert json.loads(base64.b64decode(decoded["data"])) == "decode me"
        assert response.headers["access-control-allow-origin"] == origin
    for role in ("recruiter", "reviewer"):
        response = await stack.http.post(
            "/codec/decode", json=body, headers={**team[role].headers, "Origin": origin}
        )
        assert response.status_code == 403, role
        assert response.headers["access-control-allow-origin"] == origin  # the UI can say why
    assert (await stack.http.post("/codec/decode", json=body)).status_code == 401
    # The staff session cookie works as the UI sends it ("include cross-origin credentials").
    with Session(stack.engine) as session:
        auditor = session.get(User, team["auditor"].user_id)
        assert auditor is not None
        _, cookie = accounts.start_session(session, auditor, timedelta(hours=1))
        session.commit()
    by_cookie = await stack.http.post(
        "/codec/decode",
        json=body,
        headers={"Origin": origin, "X-Namespace": "default", "Cookie": f"{SESSION_COOKIE}={cookie}"},
    )
    assert by_cookie.status_code == 200, by_cookie.text
    assert json.loads(base64.b64decode(by_cookie.json()["payloads"][0]["data"])) == "decode me"
    bad = await stack.http.post("/codec/decode", content=b"not json", headers=STAFF)
    assert bad.status_code == 422
    assert "payloads" in bad.json()["detail"]
    encoded = await stack.http.post("/codec/encode", json={"payloads": []}, headers=STAFF)
    assert encoded.status_code == 200
    assert encoded.json() == {"payloads": []}

    preflight = await stack.http.options(
        "/codec/decode",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "X-Namespace" in preflight.headers["access-control-allow-headers"]
    foreign = await stack.http.options(
        "/codec/decode", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in foreign.headers
