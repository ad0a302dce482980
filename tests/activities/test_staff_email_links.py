"""Emails to staff send them to staff pages, never to JSON endpoints: the contact person's question and
the extension to answer go to the application's page at the part where they are answered, the
review to the reviewer's scoring page; each link opens (after signing in) for the person emailed."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlmodel import Session

from offhours import TEMPLATES_DIR, accounts
from pipelines.base import Pipeline
from pipelines.people import PEOPLE
from pipelines.registry import PIPELINES, validate
from pipelines.stages import DAY, Criterion, Decision, Interview, Invite, Question, Review
from tests.support.actors import HTML, PASSWORD, unique_email
from tests.support.actors import sign_in_status as sign_in
from tests.support.mail import CaughtMail
from tests.support.stack import Stack

CLARITY = Criterion("clarity", "Clarity", ("Lost", "Vague", "Clear", "Crisp", "Compelling"))
LINKED = Pipeline(
    name="staff-links",
    title="A contact person and one reviewer",
    contact="ana",
    stages=(
        Invite(deadline=5 * DAY),
        Interview(questions=(Question("why", "Why this role?"),)),
        Review(pool="default", reviewers=1, criteria=(CLARITY,)),
        Decision(),
    ),
)
URL = re.compile(r"https?://[^\s<>\"']+")


def test_no_email_to_staff_names_a_json_endpoint_or_a_request_to_write() -> None:
    emails = Path(TEMPLATES_DIR) / "emails"
    for template in sorted(emails.iterdir()):
        text = template.read_text()
        assert "/api/v1" not in text, template.name
        for words in ("POST", "JSON"):
            assert words not in text, f"{template.name} asks staff to write a request"


def staff_links(mail: CaughtMail, public_url: str) -> list[str]:
    links = URL.findall(mail.text)
    assert links, f"no link in {mail.subject!r}"
    for link in links:
        assert link.startswith(f"{public_url}/staff/"), f"{mail.subject!r} links to {link}"
    return links


async def opens_for(stack: Stack, person_id: str, role: str, link: str) -> str:
    """The page behind `link` as the person emailed sees it once signed in: its HTML."""
    email = unique_email()
    with Session(stack.engine) as session:
        accounts.create_user(session, email, PEOPLE[person_id].name, role, person_id, PASSWORD)
        session.commit()
    stack.http.cookies.clear()
    path = urlsplit(link).path
    before = await stack.http.get(path, headers=HTML)
    assert before.status_code == 303, "a staff page asks who you are first"
    assert before.headers["location"].startswith("/staff/login?next=")
    assert await sign_in(stack, email) == 303
    page = await stack.http.get(path, headers=HTML)
    assert page.status_code == 200, page.text
    fragment = urlsplit(link).fragment
    if fragment:
        assert f'id="{fragment}"' in page.text, f"{path} has no #{fragment} to land on"
    return page.text


@pytest.fixture
def linked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PIPELINES, LINKED.name, validate(LINKED))


@pytest.mark.usefixtures("linked")
async def test_the_contact_and_the_reviewer_are_sent_to_the_pages_where_they_act(stack: Stack) -> None:
    job = await stack.create_job("Support engineer", LINKED.name)
    application = await stack.invite(job["id"])
    application_id = application["id"]
    [invite] = await stack.mailbox.wait_for(application["candidate"]["email"], 1)
    token = invite.link().rsplit("/c/", 1)[1]
    api = f"/api/v1/candidate/{token}"

    asked = await stack.http.post(f"{api}/messages", json={"body": "Can I answer in Portuguese?"})
    assert asked.status_code == 201, asked.text
    more_time = await stack.http.post(f"{api}/extension", json={"hours": 72, "reason": "a family event"})
    assert more_time.status_code == 200, more_time.text
    assert (
        await stack.http.post(f"{api}/answers", json={"question_id": "why", "text": "I like it"})
    ).is_success
    assert (await stack.http.post(f"{api}/submit")).status_code == 200

    ana, sam = PEOPLE["ana"].email, PEOPLE["sam"].email
    to_ana = await stack.mailbox.wait_for(ana, 2)
    [to_sam] = await stack.mailbox.wait_for(sam, 1)
    question = next(m for m in to_ana if "Portuguese" in m.text)
    extension = next(m for m in to_ana if m is not question)

    [answer_here] = staff_links(question, stack.settings.PUBLIC_URL)
    assert answer_here.endswith(f"/staff/applications/{application_id}#messages")
    page = await opens_for(stack, "ana", "ops", answer_here)
    assert "Can I answer in Portuguese?" in page, "the question to answer is on the page it links to"

    [grant_here] = staff_links(extension, stack.settings.PUBLIC_URL)
    assert grant_here.endswith(f"/staff/applications/{application_id}#extension")
    await opens_for(stack, "ana", "ops", grant_here)

    [score_here] = staff_links(to_sam, stack.settings.PUBLIC_URL)
    assert score_here.endswith(f"/staff/reviews/{application_id}")
    page = await opens_for(stack, "sam", "reviewer", score_here)
    assert "Clarity" in page, "the reviewer lands on the scorecard"
