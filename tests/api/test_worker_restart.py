"""A worker process killed in the middle of an application loses nothing: another one carries on."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from offhours.settings import Settings
from tests.support.actors import STAFF, unique_email
from tests.support.journeys import SCORECARD
from tests.support.mail import token_from
from tests.support.stack import Stack


def start_worker(settings: Settings, env: WorkflowEnvironment, log: Path) -> subprocess.Popen[bytes]:
    variables = {
        f"OFFHOURS_{name}": str(value)
        for name, value in settings.model_dump().items()
        if value is not None and name != "ENVIRONMENT"
    }
    variables["OFFHOURS_ENVIRONMENT"] = str(settings.ENVIRONMENT)
    variables["OFFHOURS_TEMPORAL_ADDRESS"] = env.client.service_client.config.target_host
    return subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "worker"],
        env={**os.environ, **variables},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def test_worker_killed_mid_application_loses_nothing(bare_stack: Stack, tmp_path: Path) -> None:
    stack = bare_stack
    log = tmp_path / "worker.log"
    first = start_worker(stack.settings, stack.env, log)
    try:
        job = await stack.create_job()
        address = unique_email()
        application = await stack.invite(job["id"], address)
        [invite] = await stack.mailbox.wait_for(address, 1, timeout=60)
        token = token_from(invite.link())
        saved = await stack.http.post(
            f"/api/v1/candidate/{token}/answers",
            json={"question_id": "motivation", "text": "Before the crash."},
        )
        assert saved.status_code == 200, saved.text
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    second = start_worker(stack.settings, stack.env, log)
    try:
        url = f"/api/v1/candidate/{token}"
        view = (await stack.http.get(url)).json()
        assert view["status"] == "in_progress"
        assert view["progress"]["answered"] == 1
        response = await stack.http.post(
            f"{url}/answers", json={"question_id": "experience", "text": "After the crash."}
        )
        assert response.status_code == 200, response.text
        assert response.json()["answered"] == ["experience", "motivation"]
        assert (await stack.http.post(f"{url}/submit")).status_code == 200
        await stack.wait_status(application["id"], "in_review", timeout=60)
        app_url = f"/api/v1/applications/{application['id']}"
        reviewer = await stack.as_reviewer(application["id"])
        assert (
            await stack.http.post(f"{app_url}/scorecards", json=SCORECARD, headers=reviewer)
        ).status_code == 201
        decided = await stack.http.post(f"{app_url}/decision", json={"decision": "approve"}, headers=STAFF)
        assert decided.status_code == 200, decided.text
        result = await asyncio.wait_for(stack.workflow(application["id"]).result(), 60)
        assert result.status == "approved"
        detail = await stack.application(application["id"])
        assert {a["question_id"]: a["text"] for a in detail["answers"]} == {
            "motivation": "Before the crash.",
            "experience": "After the crash.",
        }
        await stack.mailbox.wait_for(address, 3)
        await stack.mailbox.settle()
        keys = sorted(m.message_id.split(".")[0].lstrip("<") for m in stack.mailbox.to(address))
        assert keys == ["decision", "invite", "submitted"]
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(timeout=30)
    assert code == 0, log.read_text()[-2000:]
