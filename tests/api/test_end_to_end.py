"""One candidate from invite to decision through the HTTP API, on a real Temporal dev server, a real
worker, SQLite and a real SMTP server."""

from __future__ import annotations

import hashlib

from sqlmodel import Session, select

from api.services.files import _signature
from offhours.contracts import ApplicationState
from offhours.models import EmailMessage
from offhours.storage import FileStore
from offhours.vault import Vault
from tests.support.actors import STAFF, recorded_as, unique_email
from tests.support.history import payload_json
from tests.support.journeys import SCORECARD, answer_all
from tests.support.mail import token_from
from tests.support.stack import Stack


async def test_happy_path_invite_to_approval(stack: Stack) -> None:
    job = await stack.create_job("Support engineer")
    address = unique_email()
    application = await stack.invite(job["id"], address, name="Grace Hopper")
    assert application["status"] == "invited"
    assert application["candidate"]["email"] == address
    assert application["pipeline"] == {"name": "standard", "version": job["pipeline_version"]}

    # The invitation arrives over SMTP, addressed to the candidate, with a working personal link.
    [invite] = await stack.mailbox.wait_for(address, 1)
    assert invite.recipients == [address]
    assert invite.subject == "Your interview for Support engineer: answer when it suits you"
    assert "Grace Hopper" in invite.text
    assert "Grace Hopper" in invite.html
    assert invite.message_id == f"<invite.{application['id']}@offhours.localhost>"
    link = invite.link()
    assert link.startswith("http://offhours.test/c/")
    page = await stack.http.get(link.removeprefix("http://offhours.test"))
    assert page.status_code == 200
    assert "Support engineer" in page.text
    assert "Grace Hopper" in page.text
    questions = await stack.http.get(link.removeprefix("http://offhours.test") + "/questions")
    assert "Why does this role interest you?" in questions.text

    token = token_from(link)
    view = (await stack.http.get(f"/api/v1/candidate/{token}")).json()
    assert [q["id"] for q in view["questions"]] == ["motivation", "experience", "cv"]
    assert view["progress"] == {"answered": 0, "total": 3, "required_remaining": ["motivation", "experience"]}
    assert view["accepting_answers"] is True
    assert view["deadline"] is not None

    # Submitting early is refused while required questions are open.
    early = await stack.http.post(f"/api/v1/candidate/{token}/submit")
    assert early.status_code == 409
    assert "motivation" in early.json()["detail"]

    await answer_all(stack, token)
    content = b"%PDF-1.4 a tiny curriculum vitae\n"
    upload = await stack.http.post(
        f"/api/v1/candidate/{token}/answers",
        data={"question_id": "cv"},
        files={"file": ("cv.pdf", content, "application/pdf")},
    )
    assert upload.status_code == 200, upload.text
    assert upload.json()["answered"] == ["cv", "experience", "motivation"]
    assert (await stack.application(application["id"]))["status"] == "in_progress"

    submitted = await stack.http.post(f"/api/v1/candidate/{token}/submit")
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    detail = await stack.wait_status(application["id"], "in_review")
    sha = hashlib.sha256(content).hexdigest()
    cv = next(a for a in detail["answers"] if a["question_id"] == "cv")
    assert cv["file_sha256"] == sha
    assert cv["size"] == len(content)
    assert cv["file_name"] == "answer-cv.pdf"
    with Session(stack.engine) as session:  # stored sealed with the application's data key
        key = Vault(stack.settings).key(session, application["id"], create=False)
    assert FileStore(stack.settings.DATA_DIR).verify(sha, application["id"], key)
    assert detail["submitted_at"] is not None

    receipt = (await stack.mailbox.wait_for(address, 2))[1]
    assert receipt.subject == "We have received your answers for Support engineer"

    # Only staff linked to the directory score, as themselves: the one open review is sam's.
    reviewer = await stack.as_reviewer(application["id"])
    card = await stack.http.post(
        f"/api/v1/applications/{application['id']}/scorecards", json=SCORECARD, headers=reviewer
    )
    assert card.status_code == 201, card.text
    assert card.json()["status"] == "awaiting_decision"
    assert card.json()["scorecards"][0]["ratings"] == SCORECARD["ratings"]
    assert card.json()["scorecards"][0]["reviewer"] == "sam"  # the standard pool's reviewer
    assert card.json()["scorecards"][0]["submitted_by"] == recorded_as(stack, reviewer)

    decision = await stack.http.post(
        f"/api/v1/applications/{application['id']}/decision",
        json={"decision": "approve", "reason": "We would love to meet you."},
        headers=STAFF,
    )
    assert decision.status_code == 200, decision.text
    body = decision.json()
    assert body["status"] == "approved"
    assert body["decision"] == "approve"
    assert body["decided_by"] == "ops:admin"

    mails = await stack.mailbox.wait_for(address, 3)
    assert mails[2].subject == "Good news about your application for Support engineer"
    assert "We would love to meet you." in mails[2].text
    result = await stack.workflow(application["id"]).result()
    assert result.status == "approved"
    # Exactly one of each intended message, no reminders on the fast path.
    assert [m.subject.split(" ")[0] for m in stack.mailbox.to(address)] == ["Your", "We", "Good"]
    with Session(stack.engine) as session:
        rows = session.exec(
            select(EmailMessage).where(EmailMessage.application_id == application["id"])
        ).all()
        assert sorted((r.message_key, r.status) for r in rows) == [
            ("decision", "sent"),
            ("invite", "sent"),
            ("review-assigned-review-1", "sent"),
            ("submitted", "sent"),
        ]
    # The reviewer was told, without the candidate's name (reviews are blind).
    [assigned] = stack.mailbox.to("sam.okafor@example.org")
    assert assigned.subject.startswith("New review: Support engineer")
    assert "Grace" not in assigned.text
    assert address not in assigned.text

    listing = await stack.http.get(
        "/api/v1/applications", params={"job_id": job["id"], "status": "approved"}, headers=STAFF
    )
    assert [a["id"] for a in listing.json()] == [application["id"]]


async def test_reject_path_sends_the_rejection(stack: Stack) -> None:
    job = await stack.create_job("Data analyst")
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    await answer_all(stack, token)
    assert (await stack.http.post(f"/api/v1/candidate/{token}/submit")).status_code == 200
    await stack.wait_status(application["id"], "in_review")
    card = {**SCORECARD, "overall_recommendation": "no"}
    assert (
        await stack.http.post(
            f"/api/v1/applications/{application['id']}/scorecards",
            json=card,
            headers=await stack.as_reviewer(application["id"]),
        )
    ).status_code == 201
    response = await stack.http.post(
        f"/api/v1/applications/{application['id']}/decision", json={"decision": "reject"}, headers=STAFF
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    mails = await stack.mailbox.wait_for(address, 3)
    assert mails[2].subject == "Your application for Data analyst"
    assert "not to move forward" in mails[2].text
    assert (await stack.workflow(application["id"]).result()).status == "rejected"


async def test_decision_email_is_scheduled_only_after_the_decision_is_stored(stack: Stack) -> None:
    """The email reads the reason from the database, so it must not race the write that stores it."""
    job = await stack.create_job("Courier")
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    await answer_all(stack, token)
    assert (await stack.http.post(f"/api/v1/candidate/{token}/submit")).status_code == 200
    await stack.wait_status(application["id"], "in_review")
    url = f"/api/v1/applications/{application['id']}"
    reviewer = await stack.as_reviewer(application["id"])
    assert (await stack.http.post(f"{url}/scorecards", json=SCORECARD, headers=reviewer)).status_code == 201
    reason = "Your portfolio stood out."
    decided = await stack.http.post(
        f"{url}/decision", json={"decision": "approve", "reason": reason}, headers=STAFF
    )
    assert decided.status_code == 200, decided.text
    await stack.workflow(application["id"]).result()

    history = await stack.workflow(application["id"]).fetch_history()
    scheduled: dict[int, str] = {}
    saved_at = email_at = None
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            name = attrs.activity_type.name
            if (
                name == "send_email"
                and payload_json(stack, attrs.input.payloads[0])["message_key"] == "decision"
            ):
                email_at = event.event_id
            scheduled[event.event_id] = name
        if event.HasField("activity_task_completed_event_attributes") and (
            scheduled.get(event.activity_task_completed_event_attributes.scheduled_event_id)
            == "save_decision"
        ):
            saved_at = event.event_id
    assert saved_at is not None
    assert email_at is not None
    assert email_at > saved_at, "the decision email was scheduled before the decision was stored"
    mails = await stack.mailbox.wait_for(address, 3)
    assert reason in mails[2].text
    assert reason in mails[2].html


async def test_opening_the_link_is_recorded_once(stack: Stack) -> None:
    job = await stack.create_job()
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [invite] = await stack.mailbox.wait_for(address, 1)
    assert (await stack.application(application["id"]))["opened_at"] is None
    link = invite.link().removeprefix("http://offhours.test")
    assert (await stack.http.get(link)).status_code == 200
    token = token_from(invite.link())
    for _ in range(3):
        assert (await stack.http.get(f"/api/v1/candidate/{token}")).status_code == 200
    for _ in range(100):
        opened = (await stack.application(application["id"]))["opened_at"]
        if opened:
            break
        await stack.mailbox.settle(0.05)
    assert opened is not None
    state = await stack.workflow(application["id"]).query("state", result_type=ApplicationState)
    assert state.opened_at is not None
    assert state.status == "invited"
    history = await stack.workflow(application["id"]).fetch_history()
    recorded = [
        e
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "record_link_opened"
    ]
    assert len(recorded) == 1, "only the first opening is recorded"


async def test_staff_fetch_uploads_only_through_short_lived_signed_urls(stack: Stack) -> None:
    job = await stack.create_job()
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    content = b"%PDF-1.4 the portfolio\n"
    uploaded = await stack.http.post(
        f"/api/v1/candidate/{token}/answers",
        data={"question_id": "cv"},
        files={"file": ("portfolio.pdf", content, "application/pdf")},
    )
    assert uploaded.status_code == 200, uploaded.text
    url = f"/api/v1/applications/{application['id']}/answers/cv/file"
    assert (await stack.http.get(url)).status_code == 401
    assert (
        await stack.http.get(
            f"/api/v1/applications/{application['id']}/answers/motivation/file", headers=STAFF
        )
    ).status_code == 404
    signed = (await stack.http.get(url, headers=STAFF)).json()
    assert signed["sha256"] == hashlib.sha256(content).hexdigest()
    path = signed["url"].removeprefix("http://offhours.test")
    fetched = await stack.http.get(path)
    assert fetched.status_code == 200
    assert fetched.content == content
    assert fetched.headers["content-type"] == "application/pdf"
    assert "no-store" in fetched.headers["cache-control"]
    answer_id = path.split("/files/")[1].split("?")[0]
    tampered = path.replace(f"/files/{answer_id}", f"/files/{int(answer_id) + 1}")
    assert (await stack.http.get(tampered)).status_code == 403
    unsigned = f"/files/{answer_id}?expires=9999999999&signature={'0' * 64}"
    assert (await stack.http.get(unsigned)).status_code == 403
    past = 1_000_000
    expired = (
        f"/files/{answer_id}?expires={past}&signature={_signature(stack.settings, int(answer_id), past)}"
    )
    assert (await stack.http.get(expired)).status_code == 410
