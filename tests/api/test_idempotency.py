"""A call sent again with the same Idempotency-Key answers as the first did and changes nothing more:
whether the first answer was lost on its way back (the client saw a timeout, a dropped connection),
lost inside the API (Temporal took the update, the API answered 503), or lost with the process
serving it (its claim left behind)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError

from api.app import create_app
from offhours import accounts
from offhours.models import Application, ContactMessage, IdempotentRequest, PersonalText, Scorecard
from offhours.settings import Settings
from tests.support.actors import HTML, STAFF, make_user, unique_email
from tests.support.actors import sign_in_status as sign_in
from tests.support.journeys import SCORECARD
from tests.support.mail import token_from
from tests.support.stack import Stack


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@contextmanager
def answers_lost(monkeypatch: pytest.MonkeyPatch, times: int = 1) -> Iterator[list[str]]:
    """The next `times` workflow updates go through, but their answers are lost before the API gets
    them (as when the call times out just as the update completes): the API answers 503."""
    real = WorkflowHandle.execute_update
    update_ids: list[str] = []

    async def execute_update(self: WorkflowHandle[Any, Any], *args: Any, **kwargs: Any) -> Any:
        result = await real(self, *args, **kwargs)
        if len(update_ids) < times:
            update_ids.append(str(kwargs.get("id")))
            raise WorkflowUpdateRPCTimeoutOrCancelledError()
        return result

    with monkeypatch.context() as patch:
        patch.setattr(WorkflowHandle, "execute_update", execute_update)
        yield update_ids


def count(stack: Stack, model: type, **where: Any) -> int:
    with Session(stack.engine) as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.exec(query).one())


def invitation(job_id: str, address: str) -> dict[str, Any]:
    return {"job_id": job_id, "candidate": {"name": "Grace Hopper", "email": address, "timezone": "UTC"}}


def forget_kept_answers(stack: Stack) -> None:
    """As if the process serving the first call had died before keeping its answer."""
    with Session(stack.engine) as session:
        session.execute(delete(IdempotentRequest))
        session.commit()


async def in_review(stack: Stack) -> tuple[dict[str, Any], str, str]:
    job = await stack.create_job()
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    for question, text in (("motivation", "Because."), ("experience", "Years of it.")):
        saved = await stack.http.post(
            f"/api/v1/candidate/{token}/answers", json={"question_id": question, "text": text}
        )
        assert saved.status_code == 200, saved.text
    assert (await stack.http.post(f"/api/v1/candidate/{token}/submit")).status_code == 200
    await stack.wait_status(application["id"], "in_review")
    return application, address, token


async def test_a_retried_invitation_answers_like_the_first_and_invites_once(stack: Stack) -> None:
    job = await stack.create_job()
    address = unique_email()
    body = invitation(job["id"], address)
    headers = {**STAFF, **key()}
    first = await stack.http.post("/api/v1/applications", json=body, headers=headers)
    assert first.status_code == 201, first.text
    # The same call again (its answer lost on the way back): the same answer, nothing new.
    again = await stack.http.post("/api/v1/applications", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    # Key order and spacing do not make it another request.
    reordered = await stack.http.post(
        "/api/v1/applications",
        content=json.dumps(
            {"candidate": dict(reversed(body["candidate"].items())), "job_id": job["id"]}, indent=2
        ),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert reordered.status_code == 201
    assert reordered.json()["id"] == first.json()["id"]
    # Without a key, the same invitation is a duplicate the API refuses.
    duplicate = await stack.http.post("/api/v1/applications", json=body, headers=STAFF)
    assert duplicate.status_code == 409
    await stack.mailbox.wait_for(address, 1)
    await stack.mailbox.settle()
    assert len(stack.mailbox.to(address)) == 1
    assert count(stack, Application, job_id=job["id"]) == 1


async def test_a_retry_after_the_serving_process_was_lost_finishes_the_first_call(stack: Stack) -> None:
    """The process died after the application was stored and before its answer was kept: the
    retry (once the claim's lease is over) finds the application the first attempt made."""
    job = await stack.create_job()
    address = unique_email()
    body = invitation(job["id"], address)
    headers = {**STAFF, **key()}
    first = await stack.http.post("/api/v1/applications", json=body, headers=headers)
    assert first.status_code == 201, first.text
    forget_kept_answers(stack)  # as if nothing had been kept
    again = await stack.http.post("/api/v1/applications", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers  # it ran again, and found its own work
    assert again.json()["id"] == first.json()["id"]
    await stack.mailbox.wait_for(address, 1)
    await stack.mailbox.settle()
    assert len(stack.mailbox.to(address)) == 1


async def test_a_key_reused_with_a_different_body_is_a_422(stack: Stack) -> None:
    headers = {**STAFF, **key()}
    first = await stack.http.post(
        "/api/v1/jobs", json={"title": "Nurse", "pipeline": "standard"}, headers=headers
    )
    assert first.status_code == 201, first.text
    other = await stack.http.post(
        "/api/v1/jobs", json={"title": "Pilot", "pipeline": "standard"}, headers=headers
    )
    assert other.status_code == 422
    assert "Idempotency-Key was already used for a different request" in other.json()["detail"]
    elsewhere = await stack.http.post(
        f"/api/v1/jobs/{first.json()['id']}/members", json={"user": "nobody"}, headers=headers
    )
    assert elsewhere.status_code == 422
    assert "different request" in elsewhere.json()["detail"]
    bad = await stack.http.post(
        "/api/v1/jobs",
        json={"title": "Nurse", "pipeline": "standard"},
        headers={**STAFF, "Idempotency-Key": ""},
    )
    assert bad.status_code == 400
    assert "1 to 255 visible ASCII" in bad.json()["detail"]
    stranger = await stack.http.post(
        "/api/v1/jobs",
        json={"title": "Nurse"},
        headers={"Authorization": "Bearer wrong", "Idempotency-Key": ""},
    )
    assert stranger.status_code == 401  # who is calling is judged first
    # A key is the caller's own: another caller's same key is another request.
    someone = stack.as_person("rachel")
    theirs = await stack.http.post(
        "/api/v1/jobs", json={"title": "Pilot", "pipeline": "standard"}, headers={**headers, **someone}
    )
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]


async def test_a_retried_answer_whose_update_went_through_answers_like_the_first(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await stack.create_job()
    address = unique_email()
    application = await stack.invite(job["id"], address)
    token = token_from((await stack.mailbox.wait_for(address, 1))[0].link())
    url = f"/api/v1/candidate/{token}/answers"
    answer = {"question_id": "motivation", "text": "Said once."}
    headers = key()
    with answers_lost(monkeypatch) as lost:
        first = await stack.http.post(url, json=answer, headers=headers)
    assert first.status_code == 503, first.text  # the update went through; its answer did not
    assert lost
    assert lost[0].startswith("idem-")
    again = await stack.http.post(url, json=answer, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["answered"] == ["motivation"]
    # One text kept, referred to by the one update the workflow took.
    assert count(stack, PersonalText, application_id=application["id"]) == 1
    history = await stack.workflow(application["id"]).fetch_history()
    accepted = [
        e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted) == 1


async def test_a_retried_scorecard_whose_update_went_through_answers_like_the_first(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    application, _, _ = await in_review(stack)
    url = f"/api/v1/applications/{application['id']}/scorecards"
    reviewer = await stack.as_reviewer(application["id"])
    headers = {**reviewer, **key()}
    with answers_lost(monkeypatch):
        first = await stack.http.post(url, json=SCORECARD, headers=headers)
    assert first.status_code == 503, first.text
    again = await stack.http.post(url, json=SCORECARD, headers=headers)
    assert again.status_code == 201, again.text
    assert [s["overall_recommendation"] for s in again.json()["scorecards"]] == ["strong_yes"]
    assert count(stack, Scorecard, application_id=application["id"]) == 1
    # Sent again without its key, the call is a new one, and the workflow refuses it: what a client
    # retrying without a key would have been told.
    unkeyed = await stack.http.post(url, json=SCORECARD, headers=reviewer)
    assert unkeyed.status_code in (403, 409, 422), unkeyed.text


async def test_a_retried_decision_answers_like_the_first_after_the_workflow_closed(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    application, address, _ = await in_review(stack)
    app_url = f"/api/v1/applications/{application['id']}"
    reviewer = await stack.as_reviewer(application["id"])
    assert (
        await stack.http.post(f"{app_url}/scorecards", json=SCORECARD, headers=reviewer)
    ).status_code == 201
    headers = {**STAFF, **key()}
    with answers_lost(monkeypatch):
        first = await stack.http.post(f"{app_url}/decision", json={"decision": "approve"}, headers=headers)
    assert first.status_code == 503, first.text
    result = await stack.workflow(application["id"]).result()
    assert result.status == "approved"  # the decision was taken, and the workflow has closed
    again = await stack.http.post(f"{app_url}/decision", json={"decision": "approve"}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "approved"
    assert again.json()["decision"] == "approve"
    replayed = await stack.http.post(f"{app_url}/decision", json={"decision": "approve"}, headers=headers)
    assert replayed.status_code == 200
    assert replayed.headers["idempotent-replayed"] == "true"
    unkeyed = await stack.http.post(f"{app_url}/decision", json={"decision": "approve"}, headers=STAFF)
    assert unkeyed.status_code == 409  # a new decision on a closed application is refused
    await stack.mailbox.wait_for(address, 3)
    await stack.mailbox.settle()
    assert sorted(m.message_id.split(".")[0].lstrip("<") for m in stack.mailbox.to(address)) == [
        "decision",
        "invite",
        "submitted",
    ]


async def test_a_retried_message_is_sent_once(stack: Stack) -> None:
    job = await stack.create_job()
    address = unique_email()
    application = await stack.invite(job["id"], address)
    await stack.mailbox.wait_for(address, 1)
    url = f"/api/v1/applications/{application['id']}/messages"
    headers = {**STAFF, **key()}
    first = await stack.http.post(url, json={"body": "Happy to help."}, headers=headers)
    assert first.status_code == 201, first.text
    forget_kept_answers(stack)  # the answer lost with its process: it runs again
    again = await stack.http.post(url, json={"body": "Happy to help."}, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert count(stack, ContactMessage, application_id=application["id"]) == 1
    await stack.mailbox.wait_for(address, 2)
    await stack.mailbox.settle(1.5)
    assert len(stack.mailbox.to(address)) == 2  # the invitation and one answer


async def test_what_is_kept_opens_only_with_the_key_and_goes_with_an_erasure(stack: Stack) -> None:
    job = await stack.create_job()
    address = unique_email()
    body = invitation(job["id"], address)
    sent = key()
    created = await stack.http.post("/api/v1/applications", json=body, headers={**STAFF, **sent})
    assert created.status_code == 201
    with Session(stack.engine) as session:
        [row] = session.exec(select(IdempotentRequest)).all()
        assert row.application_id == created.json()["id"]
        assert row.sealed is not None
        assert address.encode() not in row.sealed
        assert b"Grace" not in row.sealed
        assert sent["Idempotency-Key"] not in row.id
    erased = await stack.http.post(
        f"/api/v1/applications/{created.json()['id']}/erasure", json={"reason": "asked"}, headers=STAFF
    )
    assert erased.status_code == 202, erased.text
    async with asyncio.timeout(20):
        while (await stack.application(created.json()["id"]))["erased_at"] is None:
            await asyncio.sleep(0.1)
    assert count(stack, IdempotentRequest, application_id=created.json()["id"]) == 0


async def test_two_identical_calls_at_once_are_done_once(stack: Stack) -> None:
    headers = {**STAFF, **key()}
    body = {"title": "Two clicks", "pipeline": "standard"}
    first, second = await asyncio.gather(
        stack.http.post("/api/v1/jobs", json=body, headers=headers),
        stack.http.post("/api/v1/jobs", json=body, headers=headers),
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert {first.headers.get("idempotent-replayed"), second.headers.get("idempotent-replayed")} == {
        None,
        "true",
    }
    jobs = (await stack.http.get("/api/v1/jobs", headers=STAFF)).json()
    assert [j["title"] for j in jobs].count("Two clicks") == 1


async def test_a_staff_form_sent_twice_sends_one_email(stack: Stack) -> None:
    """The page's form carries its own key: a double click (or a reload that posts again) of
    'Send the invitation again' sends one invitation, and the second post is shown the same page."""
    email = make_user(stack, "ops")
    assert await sign_in(stack, email) == 303
    job = await stack.create_job()
    address = unique_email()
    application = await stack.invite(job["id"], address)
    await stack.mailbox.wait_for(address, 1)
    page = await stack.http.get(f"/staff/applications/{application['id']}", headers=HTML)
    form = re.search(r'action="/staff/applications/[^"]+/resend-invite".*?</form>', page.text, re.S)
    assert form is not None
    fields = dict(re.findall(r'name="(csrf_token|idempotency_key)" value="([^"]+)"', form[0]))
    assert set(fields) == {"csrf_token", "idempotency_key"}
    url = f"/staff/applications/{application['id']}/resend-invite"
    first = await stack.http.post(url, data=fields, headers=HTML)
    second = await stack.http.post(url, data=fields, headers=HTML)
    assert first.status_code == second.status_code == 200
    assert "The invitation was sent again." in second.text
    assert second.headers.get("idempotent-replayed") == "true"
    await stack.mailbox.wait_for(address, 2)
    await stack.mailbox.settle(1.5)
    assert len(stack.mailbox.to(address)) == 2  # the invitation, and one resend
    # A new rendering of the page is a new form: sent, it is another resend.
    page = await stack.http.get(f"/staff/applications/{application['id']}", headers=HTML)
    form = re.search(r'action="/staff/applications/[^"]+/resend-invite".*?</form>', page.text, re.S)
    assert form is not None
    fresh = dict(re.findall(r'name="(csrf_token|idempotency_key)" value="([^"]+)"', form[0]))
    assert fresh["idempotency_key"] != fields["idempotency_key"]
    assert (await stack.http.post(url, data=fresh, headers=HTML)).status_code == 200
    await stack.mailbox.wait_for(address, 3)


def test_every_state_changing_operation_documents_the_key(settings: Settings, engine: Engine) -> None:
    spec = create_app(settings, engine=engine).openapi()
    changing = [
        (method, path, operation)
        for path, operations in spec["paths"].items()
        if path.startswith("/api/")
        for method, operation in operations.items()
        if method in ("post", "put", "patch", "delete")
    ]
    assert len(changing) > 20
    for method, path, operation in changing:
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert "Idempotency-Key" in names, f"{method} {path}"
        assert {"400", "422", "503"} <= set(operation["responses"]), f"{method} {path}"


async def test_a_revoked_token_is_not_given_a_kept_answer(stack: Stack) -> None:
    with Session(stack.engine) as session:
        user = accounts.create_user(session, unique_email(), "Temp", "ops")
        token_row, token = accounts.create_token(session, user.id, "soon revoked")
        session.commit()
        token_id = token_row.id
    headers = {"Authorization": f"Bearer {token}", **key()}
    body = {"title": "Kept", "pipeline": "standard"}
    assert (await stack.http.post("/api/v1/jobs", json=body, headers=headers)).status_code == 201
    with Session(stack.engine) as session:
        accounts.revoke_token(session, token_id)
        session.commit()
    again = await stack.http.post("/api/v1/jobs", json=body, headers=headers)
    assert again.status_code == 401
    assert "idempotent-replayed" not in again.headers


async def test_strangers_leave_nothing_behind(stack: Stack) -> None:
    """Only a caller who proved who they are has an answer kept: a bad token, a made-up link or an
    unknown path leaves no row (so strangers cannot fill the table), and is refused as ever."""
    body = {"title": "x", "pipeline": "standard"}
    bad_token = await stack.http.post(
        "/api/v1/jobs", json=body, headers={"Authorization": "Bearer not-a-token", **key()}
    )
    assert bad_token.status_code == 401
    made_up = await stack.http.post(
        "/api/v1/candidate/made-up-link/answers", json={"question_id": "q", "text": "t"}, headers=key()
    )
    assert made_up.status_code == 401
    nowhere = await stack.http.post("/api/v1/nowhere", json=body, headers={**STAFF, **key()})
    assert nowhere.status_code in (404, 405)
    assert count(stack, IdempotentRequest) == 0


async def test_a_retried_release_and_erasure_answer_like_the_first(stack: Stack) -> None:
    job = await stack.create_job()
    application = await stack.invite(job["id"])
    url = f"/api/v1/applications/{application['id']}"
    placed = await stack.http.post(
        f"{url}/legal-hold", json={"reason": "a claim"}, headers={**STAFF, **key()}
    )
    assert placed.status_code == 201, placed.text
    release = {**STAFF, **key()}
    first = await stack.http.delete(f"{url}/legal-hold", headers=release)
    assert first.status_code == 200, first.text
    forget_kept_answers(stack)  # the answer lost with its process
    again = await stack.http.delete(f"{url}/legal-hold", headers=release)
    assert again.status_code == 200
    assert again.json() == first.json()
    unkeyed = await stack.http.delete(f"{url}/legal-hold", headers=STAFF)
    assert unkeyed.status_code == 409  # a new release, with nothing on hold
    erase = {**STAFF, **key()}
    erased = await stack.http.post(f"{url}/erasure", json={"reason": "asked"}, headers=erase)
    assert erased.status_code == 202, erased.text
    async with asyncio.timeout(20):
        while (await stack.application(application["id"]))["erased_at"] is None:
            await asyncio.sleep(0.1)
    retried = await stack.http.post(f"{url}/erasure", json={"reason": "asked"}, headers=erase)
    assert retried.status_code == 202
    assert retried.json() == erased.json()
