"""Blind means blind: on a pipeline whose review is blind, nothing a reviewer can receive names the
candidate (name, email or its local part, time zone, the name of the file they uploaded): every route
the policy opens to reviewers is called, pages and error pages included, and every file link found is
followed. A reviewer taken off a review (reassigned after its SLA) loses access, signed file links
they were given included; one never assigned has none; ops and recruiters keep theirs."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session

from api import policy
from offhours import accounts
from pipelines.base import Pipeline
from pipelines.people import PEOPLE, POOLS
from pipelines.registry import PIPELINES, validate
from pipelines.stages import DAY, Criterion, Decision, Interview, Invite, Question, Review
from tests.support.actors import STAFF, unique_email
from tests.support.mail import token_from
from tests.support.quiet import wait_until_quiet
from tests.support.samples import PDF
from tests.support.stack import Stack, wait_open_reviewers

NAME = "Zebulon Quillfeather"
FILE_NAME = "Zebulon_Quillfeather_CV.pdf"
ZONE = "Pacific/Chatham"
POOL = "eng"
CLARITY = Criterion("clarity", "Clarity", ("Lost", "Vague", "Clear", "Crisp", "Compelling"))
SCORECARD = {"overall_recommendation": "yes", "ratings": {"clarity": 4}, "notes": "Clear and concrete."}


def make_pipeline(name: str, *, blind: bool = True) -> Pipeline:
    return Pipeline(
        name=name,
        title=f"Blind review test {name}",
        stages=(
            Invite(deadline=5 * DAY),
            Interview(
                questions=(
                    Question("why", "Why does this role interest you?"),
                    Question("cv", "Upload your CV.", "file"),
                )
            ),
            Review(
                pool=POOL,
                reviewers=1,
                criteria=(CLARITY,),
                blind=blind,
                sla=2 * DAY,
                reminder_before_sla=1 * DAY,
            ),
            Decision(),
        ),
    )


@dataclass
class Candidate:
    application_id: str
    email: str

    @property
    def secrets(self) -> list[str]:
        """What would identify the candidate: compared case-insensitively with what reviewers get."""
        local = self.email.split("@", 1)[0]
        return [NAME, *NAME.split(), self.email, local, FILE_NAME, FILE_NAME.rsplit(".", 1)[0], ZONE]


@dataclass
class Member:
    person_id: str
    user_id: str
    headers: dict[str, str]


def make_member(stack: Stack, role: str, person_id: str | None) -> Member:
    with Session(stack.engine) as session:
        user = accounts.create_user(session, unique_email(), f"A {role}", role, person_id)
        _, token = accounts.create_token(session, user.id, "test")
        session.commit()
        return Member(person_id or "", user.id, {"Authorization": f"Bearer {token}"})


async def drive_to_review(stack: Stack, monkeypatch: pytest.MonkeyPatch, pipeline: Pipeline) -> Candidate:
    """A distinctive candidate answers, uploads a CV under their own name and submits; then waits until
    a reviewer is assigned."""
    monkeypatch.setitem(PIPELINES, pipeline.name, validate(pipeline))
    job = await stack.create_job("Lighthouse keeper", pipeline=pipeline.name)
    address = f"zebulon.quillfeather.{uuid.uuid4().hex[:8]}@example.com"
    created = await stack.http.post(
        "/api/v1/applications",
        json={"job_id": job["id"], "candidate": {"name": NAME, "email": address, "timezone": ZONE}},
        headers=STAFF,
    )
    assert created.status_code == 201, created.text
    application_id = created.json()["id"]
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    api = f"/api/v1/candidate/{token}"
    answer = await stack.http.post(f"{api}/answers", json={"question_id": "why", "text": "I like the sea."})
    assert answer.status_code == 200, answer.text
    uploaded = await stack.http.post(
        f"{api}/answers", data={"question_id": "cv"}, files={"file": (FILE_NAME, PDF, "application/pdf")}
    )
    assert uploaded.status_code == 200, uploaded.text
    assert (await stack.http.post(f"{api}/submit")).status_code == 200
    await stack.wait_status(application_id, "in_review")
    for _ in range(200):
        if (await stack.application(application_id))["review_assignments"]:
            break
        await stack.mailbox.settle(0.05)
    return Candidate(application_id, address)


async def assigned_reviewer(stack: Stack, application_id: str) -> str:
    [assignment] = [
        a
        for a in (await stack.application(application_id))["review_assignments"]
        if a["status"] == "assigned"
    ]
    return str(assignment["reviewer"])


def leaks(candidate: Candidate, response: httpx.Response) -> list[str]:
    """The candidate's identifiers found in a response: its body, its headers, its redirects'."""
    seen = []
    for one in (*response.history, response):
        textual = one.headers.get("content-type", "").startswith(("text/", "application/json"))
        text = f"{one.headers}\n{one.url}\n{one.text if textual else ''}"
        found = [s for s in candidate.secrets if s.lower() in text.lower()]
        seen += [f"{one.request.method} {one.request.url.path} -> {one.status_code}: {s!r}" for s in found]
    return seen


FILE_LINK = re.compile(r"(?:https?://[^/\"'\s]+)?(/files/\d+\?[^\"'\s<>]+)")


def file_links(response: httpx.Response) -> set[str]:
    if not response.headers.get("content-type", "").startswith(("text/", "application/json")):
        return set()
    return {html.unescape(m.group(1)) for m in FILE_LINK.finditer(response.text)}


def reviewer_routes() -> list[tuple[str, str]]:
    """Every (method, path) of the policy a reviewer may call: a new one is covered by itself."""
    return [
        (method, path)
        for (method, path), rule in policy.POLICY.items()
        if isinstance(rule, frozenset) and policy.REVIEWER in rule
    ]


def urls(path: str, candidate: Candidate, pipeline: Pipeline) -> list[str]:
    """The path with its parameters filled in, once per value worth trying."""
    values: dict[str, list[str]] = {
        "application_id": [candidate.application_id],
        "question_id": [q.id for q in pipeline.interview_questions()],
        "name": [pipeline.name],
    }
    names = re.findall(r"\{([^}]+)\}", path)
    unknown = [n for n in names if n not in values]
    assert unknown == [], f"{path}: give the test values for {unknown}"
    filled = [path]
    for name in names:
        filled = [f.replace(f"{{{name}}}", value) for f in filled for value in values[name]]
    return filled


async def call(
    stack: Stack, method: str, path: str, url: str, headers: dict[str, str], reviewer: str
) -> httpx.Response:
    if method == "GET":
        return await stack.http.get(
            url, params={"reviewer_id": reviewer}, headers=headers, follow_redirects=True
        )
    if path.endswith("/scorecards"):
        return await stack.http.post(url, json=SCORECARD, headers=headers, follow_redirects=True)
    if path == "/staff/reviews/{application_id}":  # the scorecard form (a second one is refused: 409)
        form = {"rating-clarity": "4", "recommendation": "yes", "notes": "Clear."}
        return await stack.http.post(url, data=form, headers=headers, follow_redirects=True)
    return await stack.http.request(method, url, json={}, headers=headers, follow_redirects=True)


@pytest.fixture
async def skipping_stack(skipping_stack: Stack) -> AsyncIterator[Stack]:
    yield skipping_stack
    await wait_until_quiet(skipping_stack)


# ------------------------------------------------------------------------------------- tests


async def test_nothing_a_reviewer_can_receive_names_the_candidate_on_a_blind_review(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = make_pipeline("t-blind-everything")
    candidate = await drive_to_review(stack, monkeypatch, pipeline)
    person = await assigned_reviewer(stack, candidate.application_id)
    reviewer = make_member(stack, "reviewer", person)
    # Ops see who the candidate is; the stored file name is neutral already.
    full = await stack.application(candidate.application_id)
    assert full["candidate"]["name"] == NAME
    assert full["identity_hidden"] is False
    assert [a["file_name"] for a in full["answers"] if a["question_id"] == "cv"] == ["answer-cv.pdf"]

    routes = reviewer_routes()
    expected = {
        ("GET", "/api/v1/pipelines"),
        ("GET", "/api/v1/pipelines/{name}"),
        ("GET", f"{policy.A}/review"),
        ("POST", f"{policy.A}/scorecards"),
        ("GET", f"{policy.A}/answers/{{question_id}}/file"),
        ("GET", "/staff"),
        ("GET", "/staff/reviews"),
        ("GET", "/staff/reviews/{application_id}"),
        ("POST", "/staff/reviews/{application_id}"),
        ("POST", "/staff/logout"),
    }
    assert expected <= set(routes), sorted(expected - set(routes))
    reads = [(m, p) for m, p in routes if m == "GET"]
    writes = sorted(
        ((m, p) for m, p in routes if m != "GET"),
        key=lambda r: (r[1] == "/staff/logout", not r[1].endswith("/scorecards")),
    )

    found: list[str] = []
    links: set[str] = set()
    statuses: dict[tuple[str, str], list[int]] = {}
    # Everything readable before scoring, the writes (scorecard first, logout last), then again after.
    for method, path in [*reads, *writes, *reads]:
        for url in urls(path, candidate, pipeline):
            response = await call(stack, method, path, url, reviewer.headers, person)
            statuses.setdefault((method, path), []).append(response.status_code)
            found += leaks(candidate, response)
            links |= file_links(response)
            if path.endswith("/scorecards"):
                assert response.status_code == 201, response.text
                body = response.json()
                assert body["identity_hidden"] is True
                assert body["candidate"] == {"id": "", "name": "", "email": "", "timezone": ""}
                assert body["status"] == "awaiting_decision"
    assert statuses[("GET", f"{policy.A}/review")] == [200, 200]
    assert statuses[("GET", "/staff/reviews/{application_id}")] == [200, 200]
    assert statuses[("POST", "/staff/reviews/{application_id}")] == [409]  # scored already: the page again
    assert 200 in statuses[("GET", f"{policy.A}/answers/{{question_id}}/file")]

    # Every file link handed out (JSON and the review page's player/download links) is followed.
    assert links, "the reviewer was given no link to the uploaded CV"
    for link in sorted(links):
        served = await stack.http.get(link)
        assert served.status_code == 200, (link, served.text)
        assert served.content == PDF
        assert 'filename="answer-cv.pdf"' in served.headers["content-disposition"]
        found += leaks(candidate, served)

    # Nor the emails they were sent about it.
    for mail in stack.mailbox.to(PEOPLE[person].email):
        text = f"{mail.subject}\n{mail.text}\n{mail.html}".lower()
        found += [f"email {mail.subject!r}: {s!r}" for s in candidate.secrets if s.lower() in text]
    assert found == []

    # Ops and auditors still see the candidate and the application as a whole.
    assert (await stack.application(candidate.application_id))["candidate"]["email"] == candidate.email


async def test_a_reviewer_on_a_pipeline_that_is_not_blind_keeps_seeing_the_candidate(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = await drive_to_review(stack, monkeypatch, make_pipeline("t-not-blind", blind=False))
    person = await assigned_reviewer(stack, candidate.application_id)
    reviewer = make_member(stack, "reviewer", person)
    base = f"/api/v1/applications/{candidate.application_id}"
    view = await stack.http.get(f"{base}/review", params={"reviewer_id": person}, headers=reviewer.headers)
    assert view.status_code == 200
    assert view.json()["candidate_name"] == NAME
    scored = await stack.http.post(f"{base}/scorecards", json=SCORECARD, headers=reviewer.headers)
    assert scored.status_code == 201, scored.text
    assert scored.json()["candidate"]["name"] == NAME
    assert scored.json()["identity_hidden"] is False
    # File names are neutral for everyone, blind or not.
    assert [a["file_name"] for a in scored.json()["answers"] if a["question_id"] == "cv"] == ["answer-cv.pdf"]


async def test_a_file_link_works_only_for_whom_it_was_issued(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = await drive_to_review(stack, monkeypatch, make_pipeline("t-blind-links"))
    person = await assigned_reviewer(stack, candidate.application_id)
    reviewer = make_member(stack, "reviewer", person)
    other = make_member(stack, "reviewer", next(p for p in POOLS[POOL].members if p != person))
    signed = await stack.http.get(
        f"/api/v1/applications/{candidate.application_id}/answers/cv/file", headers=reviewer.headers
    )
    assert signed.status_code == 200, signed.text
    path = signed.json()["url"].removeprefix(stack.settings.PUBLIC_URL)
    assert f"viewer={reviewer.user_id}" in path
    assert (await stack.http.get(path)).status_code == 200
    # Handed to someone else under their name, or stripped of it: the signature no longer matches.
    for forged in (
        path.replace(reviewer.user_id, other.user_id),
        path.replace(f"viewer={reviewer.user_id}&", ""),
    ):
        refused = await stack.http.get(forged)
        assert refused.status_code == 403
        assert "not valid" in refused.json()["detail"]
    # Their account disabled: the link they hold stops working.
    with Session(stack.engine) as session:
        user = accounts.find_user(session, reviewer.user_id)
        accounts.disable_user(session, user.email)
        session.commit()
    disabled = await stack.http.get(path)
    assert disabled.status_code == 403
    assert "no longer active" in disabled.json()["detail"]


async def test_a_reviewer_taken_off_a_review_loses_access_and_one_never_assigned_has_none(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    candidate = await drive_to_review(stack, monkeypatch, make_pipeline("t-blind-reassigned"))
    application_id = candidate.application_id
    base = f"/api/v1/applications/{application_id}"
    first = await assigned_reviewer(stack, application_id)
    members = {p: make_member(stack, "reviewer", p) for p in POOLS[POOL].members}
    old = members[first]

    # While the review is theirs: the view, the page with its file links, a signed URL.
    view = await stack.http.get(f"{base}/review", params={"reviewer_id": first}, headers=old.headers)
    assert view.status_code == 200, view.text
    page = await stack.http.get(f"/staff/reviews/{application_id}", headers=old.headers)
    assert page.status_code == 200, page.text
    page_links = file_links(page)
    signed = await stack.http.get(f"{base}/answers/cv/file", headers=old.headers)
    assert signed.status_code == 200, signed.text
    held = {signed.json()["url"].removeprefix(stack.settings.PUBLIC_URL), *page_links}
    assert page_links
    assert held
    for link in held:
        assert (await stack.http.get(link)).status_code == 200

    # The SLA passes without a scorecard: the review goes to someone else.
    mail = PEOPLE[first].email
    await stack.env.sleep(timedelta(days=1, minutes=10))
    await stack.mailbox.wait_for(mail, 2)  # assigned, then reminded
    await stack.env.sleep(timedelta(days=1))
    for _ in range(400):
        rows = (await stack.application(application_id))["review_assignments"]
        if any(a["status"] == "assigned" and a["reviewer"] != first for a in rows):
            break
        await stack.mailbox.settle(0.05)
    rows = (await stack.application(application_id))["review_assignments"]
    assert (rows[0]["reviewer"], rows[0]["status"]) == (first, "reassigned"), rows
    second = next(a["reviewer"] for a in rows if a["status"] == "assigned")
    await wait_open_reviewers(stack, application_id, [second])

    # The reviewer taken off it: refused everywhere, and told why.
    responses = [
        await stack.http.get(f"{base}/review", params={"reviewer_id": first}, headers=old.headers),
        await stack.http.get(f"/staff/reviews/{application_id}", headers=old.headers),
        await stack.http.post(f"{base}/scorecards", json=SCORECARD, headers=old.headers),
        await stack.http.post(
            f"/staff/reviews/{application_id}",
            data={"rating-clarity": "4", "recommendation": "yes"},
            headers=old.headers,
        ),
        await stack.http.get(f"{base}/answers/cv/file", headers=old.headers),
        *[await stack.http.get(link) for link in sorted(held)],  # the links they were given earlier
    ]
    for response in responses:
        assert response.status_code == 403, (response.request.url, response.status_code, response.text)
        assert "reassigned to another reviewer" in response.text, response.text
        assert leaks(candidate, response) == []
    queue = await stack.http.get("/staff/reviews", headers=old.headers)
    assert queue.status_code == 200
    assert f'href="/staff/reviews/{application_id}"' not in queue.text
    assert "reassigned" in queue.text

    # A reviewer never assigned to it: it does not exist for them.
    never = next(m for p, m in members.items() if p not in (first, second))
    for response in (
        await stack.http.get(
            f"{base}/review", params={"reviewer_id": never.person_id}, headers=never.headers
        ),
        await stack.http.get(f"/staff/reviews/{application_id}", headers=never.headers),
        await stack.http.post(f"{base}/scorecards", json=SCORECARD, headers=never.headers),
        await stack.http.get(f"{base}/answers/cv/file", headers=never.headers),
    ):
        assert response.status_code == 404, (response.request.url, response.text)
        assert leaks(candidate, response) == []

    # The new reviewer has it; ops and the job's recruiter keep their access, to the old view too.
    new = members[second]
    assert (
        await stack.http.get(f"{base}/review", params={"reviewer_id": second}, headers=new.headers)
    ).status_code == 200
    recruiter = make_member(stack, "recruiter", None)
    job_id = (await stack.application(application_id))["job_id"]
    added = await stack.http.post(
        f"/api/v1/jobs/{job_id}/members", json={"user": recruiter.user_id}, headers=STAFF
    )
    assert added.status_code == 201, added.text
    for headers in (STAFF, recruiter.headers):
        old_view = await stack.http.get(f"{base}/review", params={"reviewer_id": first}, headers=headers)
        assert old_view.status_code == 200, old_view.text
        link = await stack.http.get(f"{base}/answers/cv/file", headers=headers)
        assert link.status_code == 200, link.text
        served = await stack.http.get(link.json()["url"].removeprefix(stack.settings.PUBLIC_URL))
        assert served.status_code == 200
        assert served.content == PDF
    assert (await stack.http.get(base, headers=recruiter.headers)).json()["candidate"]["name"] == NAME
    scored = await stack.http.post(f"{base}/scorecards", json=SCORECARD, headers=new.headers)
    assert scored.status_code == 201, scored.text
    assert scored.json()["identity_hidden"] is True
    assert leaks(candidate, scored) == []
