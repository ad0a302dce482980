"""A workflow that is running but cannot take a request right now is a 503 with Retry-After (nothing
refused: send it again), never a 409, and the same call succeeds once a worker is back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.worker import Worker

from api import workflow_calls
from offhours.links import make_candidate_token
from tests.support.stack import Stack
from workers import build_worker


async def test_a_stopped_worker_is_a_503_and_the_same_call_succeeds_once_it_is_back(
    bare_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = bare_stack
    monkeypatch.setattr(workflow_calls, "UPDATE_TIMEOUT_SECONDS", 2.0)
    job = await stack.create_job()
    application = await stack.invite(job["id"])  # its workflow is started; no worker runs it yet
    token = make_candidate_token(
        application["id"], datetime.now(UTC) + timedelta(days=1), stack.settings.secret_key
    )
    answer = {"question_id": "motivation", "text": "Because the work matters."}

    waiting = await stack.http.post(f"/api/v1/candidate/{token}/answers", json=answer)
    assert waiting.status_code == 503, waiting.text
    assert int(waiting.headers["retry-after"]) >= 1
    assert "send the same request again" in waiting.json()["detail"]

    async with build_worker(stack.client, stack.settings, stack.engine):
        again = await stack.http.post(f"/api/v1/candidate/{token}/answers", json=answer)
        assert again.status_code == 200, again.text
        assert "motivation" in again.json()["answered"]
        await stack.mailbox.wait_for(application["candidate"]["email"], 1)  # the invitation, once


@workflow.defn(name="Application", sandboxed=False)
class FailingOnPurpose:
    """Stands in for the application workflow on a worker whose every workflow task fails (as a
    bad deploy's would): Temporal then refuses updates with FAILED_PRECONDITION, 'Workflow Task in
    failed state', while the workflow is running."""

    @workflow.run
    async def run(self, _input: Any) -> None:
        raise RuntimeError("this workflow task fails on purpose")


async def test_a_failing_workflow_task_is_a_503_not_a_409_and_the_call_succeeds_once_fixed(
    bare_stack: Stack,
) -> None:
    stack = bare_stack
    job = await stack.create_job()
    application = await stack.invite(job["id"])
    handle = stack.client.get_workflow_handle(f"application-{application['id']}")
    broken = Worker(stack.client, task_queue=stack.settings.TASK_QUEUE, workflows=[FailingOnPurpose])
    async with broken:
        async with asyncio.timeout(30):  # failed once and tried again: refused from now on
            while (await handle.describe()).raw_description.pending_workflow_task.attempt < 2:
                await asyncio.sleep(0.1)
    token = make_candidate_token(
        application["id"], datetime.now(UTC) + timedelta(days=1), stack.settings.secret_key
    )
    answer = {"question_id": "motivation", "text": "Because the work matters."}
    headers = {"Idempotency-Key": "answer-motivation-1"}

    refused = await stack.http.post(f"/api/v1/candidate/{token}/answers", json=answer, headers=headers)
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert "cannot take the request right now" in refused.json()["detail"]  # FAILED_PRECONDITION

    async with build_worker(stack.client, stack.settings, stack.engine):
        async with asyncio.timeout(60):
            while True:  # the fixed worker takes the failed task up on its next attempt
                again = await stack.http.post(
                    f"/api/v1/candidate/{token}/answers", json=answer, headers=headers
                )
                if again.status_code != 503:
                    break
                await asyncio.sleep(0.5)
        assert again.status_code == 200, again.text
        assert "motivation" in again.json()["answered"]
