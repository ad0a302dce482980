"""A workflow that is running but cannot take a request right now is a 503 with Retry-After (nothing
refused: send it again), never a 409, and the same call succeeds once a worker is back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api import workflow_calls
from offhours.links import make_candidate_token
from tests.conftest import Stack
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
