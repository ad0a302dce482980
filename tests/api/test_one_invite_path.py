"""One invite path (operations.invitations.invite) behind the single invitation and the bulk one:
the same idempotency per (job, email), the same behaviour when the workflow engine refuses."""

from __future__ import annotations

import httpx
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowExecutionStatus

from api.app import create_app
from offhours.models import Application
from tests.support.actors import STAFF, unique_email
from tests.support.records import csv_of, recorded_but_unstarted
from tests.support.stack import Stack


async def refusing_api(stack: Stack) -> httpx.AsyncClient:
    """The API on a Temporal client that refuses every start (an unknown namespace)."""
    refusing = await Client.connect(
        stack.client.service_client.config.target_host, namespace="no-such-namespace"
    )
    app = create_app(stack.settings, temporal_client=refusing, engine=stack.engine)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def applications_for(stack: Stack, job_id: str) -> list[Application]:
    with Session(stack.engine) as session:
        return list(session.exec(select(Application).where(Application.job_id == job_id)).all())


async def test_a_refused_start_leaves_nothing_behind_either_way(stack: Stack) -> None:
    job = await stack.create_job()
    single, bulk = unique_email(), unique_email()
    async with await refusing_api(stack) as http:
        one = await http.post(
            "/api/v1/applications",
            json={"job_id": job["id"], "candidate": {"name": "A", "email": single, "timezone": "UTC"}},
            headers=STAFF,
        )
        assert one.status_code == 503
        assert "nothing was saved" in one.json()["detail"]
        many = await http.post(
            f"/api/v1/jobs/{job['id']}/invitations",
            content=csv_of([("B", bulk, "UTC")]).encode(),
            headers={**STAFF, "Content-Type": "text/csv"},
        )
        assert many.status_code == 200, many.text
        assert many.json()["invited"] == 0
        assert [e["line"] for e in many.json()["errors"]] == [2]
    assert applications_for(stack, job["id"]) == []  # neither left a half-written application
    # Both go through once the engine takes them, and each is invited once.
    await stack.invite(job["id"], single)
    again = await stack.http.post(
        f"/api/v1/jobs/{job['id']}/invitations",
        content=csv_of([("B", bulk, "UTC"), ("A", single, "UTC")]).encode(),
        headers={**STAFF, "Content-Type": "text/csv"},
    )
    assert again.json()["invited"] == 1, again.text
    assert again.json()["already_invited"] == 1, again.text
    for address in (single, bulk):
        await stack.mailbox.wait_for(address, 1)
    await stack.mailbox.settle()
    assert len(stack.mailbox.to(single)) == len(stack.mailbox.to(bulk)) == 1


async def test_a_single_invitation_finishes_one_recorded_but_never_started(stack: Stack) -> None:
    """A bulk run cut off between recording a row and starting its workflow: inviting the same
    candidate one at a time starts that application (201), where it used to answer 409."""
    address = unique_email()
    job, application = await recorded_but_unstarted(stack, address)
    invited = await stack.invite(job.id, address, name="Cut Off")
    assert invited["id"] == application.id
    description = await stack.client.get_workflow_handle(application.workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    duplicate = await stack.http.post(
        "/api/v1/applications",
        json={"job_id": job.id, "candidate": {"name": "Cut Off", "email": address, "timezone": "UTC"}},
        headers=STAFF,
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["application_id"] == application.id
    await stack.mailbox.wait_for(address, 1)
    await stack.mailbox.settle()
    assert len(stack.mailbox.to(address)) == 1
