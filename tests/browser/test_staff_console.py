"""The staff console with no curl, in Chromium against the real stack: ops open a job on a pipeline,
invite one candidate and a CSV file (a bad line reported, nobody invited twice), manage staff (a
token shown once, a role changed, a user disabled, a recruiter put on a job), and act on an
application (a custom stage's outcome, held feedback released, slots offered, the candidate
answered). Wrong roles are refused as by the API; every new page passes axe's WCAG 2.1 AA rules."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from sqlmodel import Session, select

from api.services import jobs
from api.services.jobs import BulkReport, InviteRuns, Line
from offhours import accounts
from offhours.models import Application, Candidate, User
from operations.invitations import BadRow
from pipelines.base import Pipeline
from pipelines.registry import PIPELINES, validate
from pipelines.stages import DAY, Custom, Decision, Feedback, Interview, Invite, Question, Review, Scheduling
from tests.browser.test_portal_accessibility import audit
from tests.support.actors import STAFF, unique_email
from tests.support.actors import sign_in as sign_in_http
from tests.support.browser import CLARITY, Live, Shots

PASSWORD = "correct horse battery staple"
SIMPLE = Pipeline(
    name="console-simple",
    title="Console: answers, one review, a decision",
    stages=(
        Invite(deadline=5 * DAY),
        Interview(questions=(Question("why", "Why this role?"),)),
        Review(pool="default", reviewers=1, criteria=(CLARITY,)),
        Decision(),
    ),
)
FULL = Pipeline(
    name="console-full",
    title="Console: references, held feedback, a live interview",
    contact="ana",
    stages=(
        Invite(deadline=5 * DAY),
        Interview(questions=(Question("why", "Why this role?"),)),
        Custom(id="references", workflow="ReferenceCheck"),
        Review(pool="default", reviewers=1, criteria=(CLARITY,)),
        Feedback(hold_for_edit=True),
        Scheduling(title="Meet the team"),
        Decision(),
    ),
)


@pytest.fixture
def console_pipelines(monkeypatch: pytest.MonkeyPatch) -> None:
    for pipeline in (SIMPLE, FULL):
        monkeypatch.setitem(PIPELINES, pipeline.name, validate(pipeline))


def account(live: Live, role: str, person_id: str | None = None) -> tuple[str, str, dict[str, str]]:
    """A staff user with a password and an API token: (user id, email, headers)."""
    email = unique_email()
    with Session(live.engine) as session:
        user = accounts.create_user(session, email, f"Test {role}", role, person_id, PASSWORD)
        _, token = accounts.create_token(session, user.id, "test")
        user_id = user.id
        session.commit()
    return user_id, email, {"Authorization": f"Bearer {token}"}


async def signed_in(browser: Browser, live: Live, email: str) -> Page:
    context = await browser.new_context(viewport={"width": 360, "height": 800}, bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{live.url}/staff/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name=re.compile("Sign out"))).to_be_visible()
    return page


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := await check()):
            await asyncio.sleep(0.1)
    return found


async def detail(live: Live, application_id: str) -> dict[str, Any]:
    response = await live.http.get(f"/api/v1/applications/{application_id}", headers=STAFF)
    return dict(response.json())


async def status_is(live: Live, application_id: str, **expected: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await detail(live, application_id)
        return found if all(found[k] == v for k, v in expected.items()) else None

    result: dict[str, Any] = await until(check)
    return result


def applications_of(live: Live, job_id: str) -> dict[str, int]:
    """The job's applications, counted by candidate email."""
    with Session(live.engine) as session:
        rows = session.exec(
            select(Candidate.email)
            .join(Application, Application.candidate_id == Candidate.id)  # type: ignore[arg-type]
            .where(Application.job_id == job_id)
        ).all()
    counts: dict[str, int] = {}
    for email in rows:
        counts[email] = counts.get(email, 0) + 1
    return counts


async def no_violations(page: Page, axe_source: str) -> None:
    problems = await audit(page, axe_source)
    assert problems == [], problems


@pytest.mark.usefixtures("console_pipelines")
async def test_ops_open_a_job_invite_one_candidate_and_a_csv_file(
    live: Live, browser: Browser, shots: Shots, axe_source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ops_email, _ = account(live, "ops")
    page = await signed_in(browser, live, ops_email)
    await page.get_by_role("link", name="Open a job").click()
    await expect(page.get_by_role("heading", name="Open a job")).to_be_visible()
    await no_violations(page, axe_source)

    # Refused next to the field, nothing opened; then opened on the pipeline whose stages are shown.
    await page.get_by_label("Job title").fill("Console engineer")
    await page.get_by_role("button", name="Open the job").click()
    await expect(page.locator("#pipeline-error")).to_contain_text("Choose the pipeline")
    await no_violations(page, axe_source)
    choice = page.locator("li", has=page.get_by_label(re.compile(SIMPLE.title)))
    await choice.locator("summary").click()
    await expect(choice.get_by_text("One-way interview: 1 question")).to_be_visible()
    await expect(choice.get_by_text("Review by 1 of the default pool")).to_be_visible()
    await shots.take(page, "open-a-job")
    await page.get_by_label(re.compile(SIMPLE.title)).check()
    await page.get_by_role("button", name="Open the job").click()
    await expect(page.get_by_role("heading", name="Console engineer")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("The job is open")
    job_id = page.url.rsplit("/", 1)[1].split("?")[0]
    await no_violations(page, axe_source)

    # One candidate: their email arrives; the same address again is refused with the API's words.
    address = unique_email()
    invite = page.locator("#invite")
    await invite.get_by_label("Name").fill("Ada Lovelace")
    await invite.get_by_label("Email").fill(address)
    await invite.get_by_label("Time zone").fill("Europe/Lisbon")
    await invite.get_by_role("button", name="Invite").click()
    await expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    [mail] = await live.mailbox.wait_for(address, 1)
    assert mail.link().startswith(f"{live.url}/c/")
    await page.goto(f"{live.url}/staff/jobs/{job_id}")
    await invite.get_by_label("Name").fill("Ada again")
    await invite.get_by_label("Email").fill(address)
    await invite.get_by_label("Time zone").fill("Mars/Olympus")
    await invite.get_by_role("button", name="Invite").click()
    await expect(page.locator("#invite-timezone-error")).to_be_visible()
    await invite.get_by_label("Time zone").fill("UTC")
    await invite.get_by_role("button", name="Invite").click()
    await expect(page.locator("#invite-email-error")).to_contain_text("already has an application")
    await no_violations(page, axe_source)
    await shots.take(page, "invite-refused")

    # A CSV file with a bad line: the report shows it, the good lines are invited once.
    good = [unique_email(), unique_email()]
    csv = f"name,email,timezone\nGrace,{good[0]},Europe/Paris\nBad,not-an-email,UTC\nLin,{good[1]},UTC\nAda,{address},UTC\n"
    for round_, invited in ((1, "2"), (2, "0")):
        await page.goto(f"{live.url}/staff/jobs/{job_id}")
        await page.locator("#csv-file").set_input_files(
            {"name": "candidates.csv", "mimeType": "text/csv", "buffer": csv.encode()}
        )
        await page.get_by_role("button", name="Upload and invite").click()
        await expect(page.get_by_role("heading", name="Done: 4 of 4 lines")).to_be_visible()
        await expect(page.locator("#count-invited")).to_have_text(invited)
        await expect(page.locator("#count-already")).to_have_text("1" if round_ == 1 else "3")
        await expect(page.locator("#count-refused")).to_have_text("1")
        bad = page.locator("#report tr", has=page.get_by_role("cell", name="3", exact=True))
        await expect(bad).to_contain_text("refused")
        await expect(bad).to_contain_text("not a valid email address")
        await no_violations(page, axe_source)
        await shots.take(page, f"csv-report-{round_}")
    for email in good:
        await live.mailbox.wait_for(email, 1)
    await live.mailbox.settle(0.5)
    assert all(len(live.mailbox.to(email)) == 1 for email in [*good, address])
    assert applications_of(live, job_id) == {address: 1, good[0]: 1, good[1]: 1}

    # A longer file: the browser lands on its progress page at once (its invitations held back
    # here until the page is seen, then let go), a second upload meanwhile is pointed at the first,
    # the progress only goes forward, and nobody else sees the run (it names candidates).
    many = [unique_email() for _ in range(40)]
    longer = "name,email\n" + "".join(f"Candidate {i},{email}\n" for i, email in enumerate(many))
    gate = asyncio.Event()
    real_invite = jobs.invite_parsed

    async def invite_when_let_go(*args: Any, **kwargs: Any) -> jobs.BulkReport:
        await gate.wait()
        return await real_invite(*args, **kwargs)

    monkeypatch.setattr(jobs, "invite_parsed", invite_when_let_go)
    await page.goto(f"{live.url}/staff/jobs/{job_id}")
    await page.locator("#csv-file").set_input_files(
        {"name": "forty.csv", "mimeType": "text/csv", "buffer": longer.encode()}
    )
    await page.get_by_role("button", name="Upload and invite").click()
    await expect(page).to_have_url(re.compile(rf"/staff/jobs/{job_id}/invitations/[\w-]+$"))
    await expect(page.get_by_role("heading", name="Inviting: 0 of 40 lines")).to_be_visible()
    run_url = page.url
    await no_violations(page, axe_source)
    await shots.take(page, "csv-progress")
    second = await page.context.new_page()
    await second.goto(f"{live.url}/staff/jobs/{job_id}")
    await second.locator("#csv-file").set_input_files(
        {"name": "forty.csv", "mimeType": "text/csv", "buffer": longer.encode()}
    )
    await second.get_by_role("button", name="Upload and invite").click()
    await expect(second.locator("#busy")).to_contain_text("still being invited")
    assert second.url.split("?")[0] == run_url
    await second.close()
    gate.set()
    seen: list[int] = []
    async with asyncio.timeout(60):
        while True:
            progress = await (await page.request.get(f"{run_url}/progress")).json()
            assert progress["total"] == 40, progress
            assert progress["failed"] is None, progress
            seen.append(progress["done"])
            if not progress["running"]:
                break
            await asyncio.sleep(0.05)
    assert seen == sorted(seen), seen
    assert seen[-1] == 40, seen
    await expect(page.get_by_role("heading", name="Done: 40 of 40 lines")).to_be_visible(timeout=15_000)
    await expect(page.locator("#count-invited")).to_have_text("40")
    await no_violations(page, axe_source)
    await shots.take(page, "csv-report-40")
    _, other_ops, _ = account(live, "ops")
    other = await signed_in(browser, live, other_ops)
    assert (await other.request.get(run_url)).status == 404
    assert (await other.request.get(f"{run_url}/progress")).status == 404
    await other.context.close()
    for email in many:
        await live.mailbox.wait_for(email, 1)
    await live.mailbox.settle(0.5)
    assert all(len(live.mailbox.to(email)) == 1 for email in many), "the refused second upload sent nothing"
    assert len(applications_of(live, job_id)) == 43
    await page.context.close()


@pytest.mark.usefixtures("console_pipelines")
async def test_a_long_upload_is_followed_on_its_progress_page(
    live: Live, browser: Browser, shots: Shots, axe_source: str
) -> None:
    """The progress page while a run is under way. A real file of a few hundred lines is invited
    quicker than a browser can watch, so this run's work is held by the test between its steps (a
    stand-in for the invitations, named as such; the real upload is the test above); the page, its
    script, the polling and the run registry are the product's own."""
    ops_id, ops_email, _ = account(live, "ops")
    page = await signed_in(browser, live, ops_email)
    job = await live.http.post(
        "/api/v1/jobs", json={"title": "Progress", "pipeline": SIMPLE.name}, headers=STAFF
    )
    job_id = job.json()["id"]
    step, release = asyncio.Event(), asyncio.Event()

    async def held_invitations(progress: Callable[[int], None]) -> BulkReport:
        progress(10)
        await step.wait()
        progress(15)
        await release.wait()
        progress(15)
        return BulkReport(
            invited=39,
            rows=40,
            errors=[BadRow(7, "not a valid email address")],
            lines=[Line(7, "refused", "not a valid email address")],
        )

    assert live.app is not None
    runs: InviteRuns = live.app.state.invite_runs
    run = runs.start(job_id, ops_id, "big.csv", total=40, already_done=0, work=held_invitations)
    await page.goto(f"{live.url}/staff/jobs/{job_id}/invitations/{run.id}")
    await expect(page.get_by_role("heading", name="Inviting: 10 of 40 lines")).to_be_visible()
    await expect(page.locator("#progress")).to_have_attribute("value", "10")
    await no_violations(page, axe_source)
    await shots.take(page, "progress")
    step.set()  # the page follows by itself, without a reload
    await expect(page.locator("#progress-done")).to_have_text("25", timeout=10_000)
    await expect(page.locator("#progress")).to_have_attribute("value", "25")
    await expect(page.locator("#invite-run [role=status]")).to_have_text("25 of 40 lines done.")
    release.set()  # and loads the report once the last line is done
    await expect(page.get_by_role("heading", name="Done: 40 of 40 lines")).to_be_visible(timeout=10_000)
    await expect(page.locator("#count-refused")).to_have_text("1")
    await expect(page.locator("#report tr.refused")).to_contain_text("not a valid email address")
    await no_violations(page, axe_source)
    await shots.take(page, "report")

    # A run that stops half-way (Temporal gone, say) says where, and what to do.
    async def stopped_invitations(progress: Callable[[int], None]) -> BulkReport:
        progress(3)
        raise ConnectionError("the Temporal service went away")

    broken = runs.start(job_id, ops_id, "big.csv", total=40, already_done=0, work=stopped_invitations)
    await page.goto(f"{live.url}/staff/jobs/{job_id}/invitations/{broken.id}")
    await expect(page.get_by_role("heading", name="Stopped: 3 of 40 lines")).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("send the file again: nobody is invited twice")
    await no_violations(page, axe_source)
    await page.context.close()


@pytest.mark.usefixtures("console_pipelines")
async def test_ops_manage_staff_and_wrong_roles_are_refused(
    live: Live, browser: Browser, shots: Shots, axe_source: str
) -> None:
    ops_id, ops_email, _ = account(live, "ops")
    recruiter_id, recruiter_email, recruiter = account(live, "recruiter", "ana")
    _, _, reviewer = account(live, "reviewer", "sam")
    job = await live.http.post(
        "/api/v1/jobs", json={"title": "Night support", "pipeline": SIMPLE.name}, headers=STAFF
    )
    job_id = job.json()["id"]

    # Wrong roles, as the API answers them.
    async with httpx.AsyncClient(base_url=live.url) as http:
        assert (await http.get("/staff/users", headers=recruiter)).status_code == 403
        assert (await http.post("/staff/jobs/new", data={"title": "x"}, headers=reviewer)).status_code == 403
        assert (await sign_in_http(http, recruiter_email, PASSWORD)).status_code == 303
        assert (await http.get("/staff/users", headers={"Accept": "text/html"})).status_code == 403
        # Signed in, a form without the session's CSRF token is refused before anything is done.
        forged = await http.post("/staff/jobs/new", data={"title": "Forged", "pipeline": SIMPLE.name})
        assert forged.status_code == 403
        assert "CSRF" in forged.text

    page = await signed_in(browser, live, ops_email)
    await page.get_by_role("link", name="Users").click()
    await expect(page.get_by_role("heading", name="Users")).to_be_visible()
    await no_violations(page, axe_source)

    # A new reviewer; a bad password is refused next to its field first.
    new_email = unique_email()
    form = page.locator("#new-user")
    await form.get_by_label("Email").fill(new_email)
    await form.get_by_label("Name").fill("Rey Viewer")
    await form.get_by_label("Role").select_option("reviewer")
    await form.get_by_label("Directory person (optional)").select_option("sam")
    await form.get_by_label(re.compile("Password")).fill("short")
    await form.get_by_role("button", name="Create the user").click()
    await expect(page.locator("#new-password-error")).to_contain_text("at least 12 characters")
    await no_violations(page, axe_source)
    await form.get_by_label(re.compile("Password")).fill(PASSWORD)
    await form.get_by_role("button", name="Create the user").click()
    await expect(page.get_by_role("status")).to_contain_text("The user is created")
    with Session(live.engine) as session:
        new_id = accounts.find_user(session, new_email).id
    row = page.locator(f"#user-{new_id}")
    await expect(row).to_contain_text("reviewer")

    # Its token, shown once: a reload of the list does not show it.
    await row.get_by_role("button", name=re.compile("Create an API token")).click()
    await expect(page.get_by_role("heading", name=re.compile("shown only this once"))).to_be_visible()
    plain = await page.get_by_label("Token").input_value()
    assert plain.startswith(accounts.TOKEN_PREFIX)
    await no_violations(page, axe_source)
    await shots.take(page, "token-once")
    token = {"Authorization": f"Bearer {plain}"}
    assert (await live.http.get("/api/v1/pipelines", headers=token)).status_code == 200
    await page.goto(f"{live.url}/staff/users")
    assert plain not in await page.content()
    await page.reload()
    assert plain not in await page.content()

    # A second token; the first, listed with when it was last used, revoked from the page: refused
    # by the API from then on, while the second still works.
    await row.get_by_label(re.compile("Token name for")).fill("ci")
    await row.get_by_role("button", name=re.compile("Create an API token")).click()
    second = {"Authorization": f"Bearer {await page.get_by_label('Token').input_value()}"}
    await page.goto(f"{live.url}/staff/users")
    tokens = row.locator("ul.tokens li")
    await expect(tokens).to_have_count(2)
    first = tokens.filter(has=page.locator(".token-name", has_text=re.compile("^api$")))
    await expect(first.locator(".last-used")).not_to_have_text("never")
    await expect(
        tokens.filter(has=page.locator(".token-name", has_text=re.compile("^ci$"))).locator(".last-used")
    ).to_have_text("never")
    await shots.take(page, "tokens")
    await no_violations(page, axe_source)
    await first.get_by_role("button", name=re.compile("Revoke")).click()
    await expect(page.get_by_role("status")).to_contain_text("The token is revoked")
    await expect(tokens).to_have_count(1)
    assert (await live.http.get("/api/v1/pipelines", headers=token)).status_code == 401
    assert (await live.http.get("/api/v1/pipelines", headers=second)).status_code == 200
    token = second

    # Another role; then disabled: the token is refused by the API.
    await row.get_by_label(re.compile("Role of")).select_option("auditor")
    await row.get_by_role("button", name=re.compile("Change the role")).click()
    await expect(page.get_by_role("status")).to_contain_text("The role is changed")
    await expect(row.locator(".role")).to_have_text("auditor")
    with Session(live.engine) as session:
        assert session.get(User, new_id) is not None
        assert accounts.find_user(session, new_id).role == "auditor"
    await row.get_by_role("button", name=re.compile("Disable")).click()
    await expect(page.get_by_role("status")).to_contain_text("disabled")
    assert (await live.http.get("/api/v1/pipelines", headers=token)).status_code == 401

    # Ops cannot disable themselves.
    await page.locator(f"#user-{ops_id}").get_by_role("button", name=re.compile("Disable")).click()
    await expect(page.locator(f"#row-error-{ops_id}")).to_contain_text("cannot disable your own account")
    await no_violations(page, axe_source)
    await shots.take(page, "users")

    # A recruiter put on a job from its board then sees it.
    await page.goto(f"{live.url}/staff/jobs/{job_id}")
    await page.get_by_label("Email of the member of staff").fill("nobody@example.com")
    await page.get_by_role("button", name="Put them on the job").click()
    await expect(page.locator("#member-user-error")).to_contain_text("no user")
    await page.get_by_label("Email of the member of staff").fill(recruiter_email)
    await page.get_by_role("button", name="Put them on the job").click()
    await expect(page.get_by_role("status")).to_contain_text("They are on the job")
    await page.context.close()
    theirs = await signed_in(browser, live, recruiter_email)
    await theirs.goto(f"{live.url}/staff/jobs")
    await expect(theirs.get_by_role("link", name="Night support")).to_be_visible()
    assert (await live.http.get(f"/api/v1/jobs/{job_id}", headers=recruiter)).status_code == 200
    assert recruiter_id
    await theirs.context.close()


async def candidate_submits(live: Live, token: str) -> None:
    api = f"/api/v1/candidate/{token}"
    answer = await live.http.post(f"{api}/answers", json={"question_id": "why", "text": "I like it."})
    assert answer.status_code == 200, answer.text
    assert (await live.http.post(f"{api}/submit")).status_code == 200


@pytest.mark.usefixtures("console_pipelines")
async def test_ops_act_on_an_application_outcome_feedback_slots_and_messages(
    live: Live, browser: Browser, shots: Shots, axe_source: str
) -> None:
    _, ops_email, _ = account(live, "ops")
    _, _, sam = account(live, "reviewer", "sam")
    application, link = await live.invite(FULL.name, "Support lead", name="Grace Hopper")
    application_id = application["id"]
    address = (await detail(live, application_id))["candidate"]["email"]
    token = link.rsplit("/c/", 1)[1]
    asked = await live.http.post(f"/api/v1/candidate/{token}/messages", json={"body": "Is it remote?"})
    assert asked.status_code == 201, asked.text
    await candidate_submits(live, token)
    await status_is(live, application_id, stage="references")

    page = await signed_in(browser, live, ops_email)
    url = f"{live.url}/staff/applications/{application_id}"
    await page.goto(url)
    for anchor in ("decision", "extension", "messages", "slots", "outcome", "feedback"):
        await expect(page.locator(f"#{anchor}")).to_have_count(1)
    await expect(page.locator("#messages")).to_contain_text("Is it remote?")
    await no_violations(page, axe_source)

    # The candidate answered from the thread: emailed to them.
    await page.get_by_label(re.compile("Your answer")).fill("Yes, fully remote.")
    await page.get_by_role("button", name="Send the answer").click()
    await expect(page.locator("#messages")).to_contain_text("Yes, fully remote.")
    await until(lambda: asyncio.sleep(0, [m for m in live.mailbox.to(address) if "fully remote" in m.text]))

    # The reference check's outcome: nothing chosen is refused next to the field; then continue.
    outcome = page.locator("#outcome")
    await outcome.get_by_role("button", name="Record the outcome").click()
    await expect(page.locator("#outcome-error")).to_contain_text("continue or reject")
    await outcome.get_by_label("Continue to the next stage").check()
    await outcome.get_by_label(re.compile("Note")).fill("Two good references.")
    await outcome.get_by_role("button", name="Record the outcome").click()
    await expect(page.get_by_role("status")).to_contain_text("The outcome is recorded")
    await status_is(live, application_id, stage="review")

    # Scored by the reviewer (API); the feedback is held, edited and released here.
    scored = await live.http.post(
        f"/api/v1/applications/{application_id}/scorecards",
        json={"overall_recommendation": "yes", "ratings": {"clarity": 4}},
        headers=sam,
    )
    assert scored.status_code == 201, scored.text
    await status_is(live, application_id, stage="feedback")
    await page.goto(url)
    await expect(page.locator("#feedback")).to_contain_text("Held for editing")
    await no_violations(page, axe_source)
    await page.get_by_label(re.compile("Your edited feedback")).fill(
        "Clear answers; we would like to meet you."
    )
    await page.get_by_role("button", name="Release the feedback").click()
    await expect(page.get_by_role("status")).to_contain_text("The feedback is released")
    feedback = await until(
        lambda: asyncio.sleep(
            0, [m for m in live.mailbox.to(address) if m.subject.startswith("Your feedback")]
        )
    )
    assert "we would like to meet you" in feedback[0].text

    # Slots at the scheduling stage: a bad time zone refused by the field; then offered and emailed.
    await status_is(live, application_id, stage="scheduling")
    await page.goto(url)
    slots = page.locator("#slots")
    await slots.get_by_label("Time zone of these times").fill("Nowhere/Else")
    await slots.get_by_label("Slot 1").fill("2031-03-04T10:00")
    await slots.get_by_role("button", name="Offer these slots").click()
    await expect(page.locator("#slots-timezone-error")).to_be_visible()
    await no_violations(page, axe_source)
    await slots.get_by_label("Time zone of these times").fill("Europe/Lisbon")
    await slots.get_by_label("Slot 1").fill("2031-03-04T10:00")
    await slots.get_by_label("Slot 2 (optional)").fill("2031-03-05T15:30")
    await slots.get_by_role("button", name="Offer these slots").click()
    await expect(page.get_by_role("status")).to_contain_text("The slots are offered")
    await shots.take(page, "slots-offered")
    offered = await until(
        lambda: asyncio.sleep(
            0, [m for m in live.mailbox.to(address) if m.subject.startswith("Choose a time")]
        )
    )
    assert len(offered) == 1
    await page.context.close()
