"""The read API an ATS syncs from: every list (jobs, applications, scorecards, messages) is read a page
at a time in (timestamp, id) order, following the `Link: <...>; rel="next"` header until it is
absent, and `updated_after` asks for what changed since. Walked while applications are invited and
changed, a list misses nothing and repeats an application only when it changed after it was read;
a sync that follows the walk leaves the integration holding every application as it is now. Cursors
are the API's own (a garbled one is refused, and said so), limits are bounded, and paging changes
nothing about who sees what. Field names stay close to Greenhouse Harvest's."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
from sqlmodel import Session

from offhours import ids
from offhours.models import Application, Candidate, Scorecard
from pipelines.registry import get_pipeline
from tests.support.actors import STAFF, make_staff, unique_email
from tests.support.journeys import SCORECARD, answer_all, invited
from tests.support.quiet import wait_until_quiet
from tests.support.stack import Stack

LINK = re.compile(r'^<([^>]+)>; rel="next"$')
ORIGINAL = 250
PAGE = 40


def next_url(response: httpx.Response) -> str | None:
    """The next page's URL (path and query) from the Link header, or None on the last page."""
    header = response.headers.get("link")
    if header is None:
        return None
    match = LINK.match(header)
    assert match, header
    parts = urlsplit(match[1])
    assert f"{parts.scheme}://{parts.netloc}" == "http://offhours.test", header  # PUBLIC_URL
    return f"{parts.path}?{parts.query}"


def at(row: dict[str, Any], field: str = "updated_at") -> datetime:
    return datetime.fromisoformat(row[field])


async def get(stack: Stack, url: str, headers: dict[str, str] = STAFF, **params: Any) -> httpx.Response:
    response = await stack.http.get(url, params=params or None, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def walk(
    stack: Stack, path: str, headers: dict[str, str] = STAFF, **params: Any
) -> list[dict[str, Any]]:
    """Every row of a list, page by page, as an integration reads it."""
    rows: list[dict[str, Any]] = []
    url: str | None = path
    first = True
    while url is not None:
        response = await get(stack, url, headers, **(params if first else {}))
        first = False
        rows += response.json()
        url = next_url(response)
    return rows


def add_applications(stack: Stack, job_id: str, count: int, tied: int) -> list[str]:
    """`count` applications to the job, invited an hour ago and written straight to the database (an
    invitation's rows, no workflow: nothing changes them unasked), `tied` at a time sharing one
    `updated_at`, so that pages end between applications the time alone does not order."""
    pipeline = get_pipeline("standard")
    snapshot, version = pipeline.snapshot(), pipeline.version
    start = datetime.now(UTC) - timedelta(hours=1)
    added = []
    with Session(stack.engine) as session:
        for n in range(count):
            suffix = uuid.uuid4().hex[:20]
            session.add(
                Candidate(id=f"cnd_{suffix}", name=f"Person {n}", email=unique_email(), timezone="UTC")
            )
            added.append(suffix)
        session.flush()  # the candidates first: the applications refer to them
        for n, suffix in enumerate(added):
            stamp = start + timedelta(milliseconds=n // tied)
            session.add(
                Application(
                    id=f"app_{suffix}",
                    job_id=job_id,
                    candidate_id=f"cnd_{suffix}",
                    workflow_id=f"application-app_{suffix}",
                    pipeline_name=pipeline.name,
                    pipeline_version=version,
                    pipeline_snapshot=snapshot,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
        session.commit()
    return [f"app_{suffix}" for suffix in added]


def latest(rows: list[dict[str, Any]]) -> dict[str, datetime]:
    """What an integration holds after reading `rows`: each application at its latest change."""
    held: dict[str, datetime] = {}
    for row in rows:
        held[row["id"]] = max(held.get(row["id"], at(row)), at(row))
    return held


# ------------------------------------------------------------------------------------- tests


async def test_250_applications_walked_page_by_page_none_missed_or_repeated_while_new_ones_arrive(
    stack: Stack,
) -> None:
    job = await stack.create_job("Night shift")
    original = set(add_applications(stack, job["id"], ORIGINAL, tied=7))
    assert len(original) == ORIGINAL

    seen: list[dict[str, Any]] = []
    arrived: list[str] = []
    changed: str | None = None
    url: str | None = "/api/v1/applications"
    params: dict[str, Any] = {"job_id": job["id"], "limit": PAGE}
    pages = 0
    while url is not None:
        response = await get(stack, url, **params)
        params = {}  # the link carries the query from now on
        page = response.json()
        pages += 1
        assert len(page) <= PAGE
        seen += page
        url = next_url(response)
        if url is not None:
            query = parse_qs(urlsplit(url).query)
            assert query["job_id"] == [job["id"]]
            assert query["limit"] == [str(PAGE)]
            assert len(query["cursor"]) == 1
        if pages <= 4:  # while the walk goes on, candidates keep being invited
            arrived.append((await stack.invite(job["id"]))["id"])
        if pages == 2:  # and one application already read changes: ops put it on legal hold
            changed = seen[0]["id"]
            held = await stack.http.post(
                f"/api/v1/applications/{changed}/legal-hold", json={"reason": "a claim"}, headers=STAFF
            )
            assert held.status_code == 201, held.text
    assert changed is not None
    assert pages >= ORIGINAL // PAGE + 1

    # In cursor order throughout: (updated_at, id) only ever goes forward.
    keys = [(at(row), row["id"]) for row in seen]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    # Every application there when the walk began is in it, and those invited during it.
    walked = [row["id"] for row in seen]
    assert original <= set(walked)
    assert set(arrived) <= set(walked)
    # None is repeated unless it changed after it was read: each sighting is a later version.
    for application_id in set(walked):
        sightings = [at(row) for row in seen if row["id"] == application_id]
        assert sightings == sorted(set(sightings)), (application_id, sightings)
    assert [r["legal_hold"] for r in seen if r["id"] == changed] == [False, True]
    # Those that did not change came exactly once (the invited ones may have moved on meanwhile).
    assert all(walked.count(i) == 1 for i in original - {changed})
    assert {i for i in walked if walked.count(i) > 1} <= {changed, *arrived}

    # The next sync asks for what changed since (a few seconds' overlap, as the API advises): the
    # applications invited during the walk and the one put on hold, nothing else; the integration
    # then holds every application of the job as it is now.
    await wait_until_quiet(stack, [ids.application_workflow(i) for i in arrived])
    since = max(at(row) for row in seen) - timedelta(seconds=5)
    changes = await walk(
        stack, "/api/v1/applications", job_id=job["id"], limit=PAGE, updated_after=since.isoformat()
    )
    assert all(at(row) > since for row in changes)
    assert {row["id"] for row in changes} == {changed, *arrived}
    held_now = latest([*seen, *changes])
    now = {
        row["id"]: at(row) for row in await walk(stack, "/api/v1/applications", job_id=job["id"], limit=500)
    }
    assert held_now == now
    assert len(now) == ORIGINAL + len(arrived)


async def test_updated_after_returns_only_what_changed_since(stack: Stack) -> None:
    job = await stack.create_job("Harbour pilot")
    first, second, third = [(await stack.invite(job["id"]))["id"] for _ in range(3)]
    await wait_until_quiet(stack)
    before = await walk(stack, "/api/v1/applications", job_id=job["id"])
    assert {r["id"] for r in before} == {first, second, third}
    mark = max(at(row) for row in before)

    withdrawn = await stack.http.post(f"/api/v1/applications/{second}/withdraw", json={}, headers=STAFF)
    assert withdrawn.status_code == 200, withdrawn.text
    await wait_until_quiet(stack)
    for given in (
        mark.isoformat(),  # +00:00
        mark.isoformat().replace("+00:00", "Z"),
        mark.replace(tzinfo=None).isoformat(),  # no zone: UTC
        mark.astimezone(UTC).astimezone().isoformat(),  # the same instant in another zone
    ):
        changed = await get(stack, "/api/v1/applications", job_id=job["id"], updated_after=given)
        assert [r["id"] for r in changed.json()] == [second], given
        assert changed.json()[0]["status"] == "withdrawn"
        assert at(changed.json()[0]) > mark
        assert "link" not in changed.headers
    # A '+' sent unescaped arrives as a space: still understood.
    plus = mark.astimezone(ZoneInfo("Asia/Kolkata")).isoformat()
    spaced = await get(stack, f"/api/v1/applications?job_id={job['id']}&updated_after={plus}")
    assert [r["id"] for r in spaced.json()] == [second]
    # Nothing changed after the future; the jobs list filters the same way.
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (await get(stack, "/api/v1/applications", updated_after=future)).json() == []
    jobs = await get(stack, "/api/v1/jobs", updated_after=(at(job) - timedelta(seconds=1)).isoformat())
    assert job["id"] in [j["id"] for j in jobs.json()]
    assert (await get(stack, "/api/v1/jobs", updated_after=future)).json() == []


async def test_a_garbled_cursor_a_bad_time_or_a_limit_out_of_range_is_refused_naming_it(stack: Stack) -> None:
    for title in ("A", "B", "C"):
        await stack.create_job(title)
    response = await get(stack, "/api/v1/jobs", limit=1)
    url = next_url(response)
    assert url is not None
    cursor = parse_qs(urlsplit(url).query)["cursor"][0]
    flipped = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    for path, bad in (
        ("/api/v1/jobs", "not-a-cursor"),
        ("/api/v1/jobs", "%%%"),
        ("/api/v1/jobs", flipped),
        ("/api/v1/jobs", cursor[: len(cursor) // 2]),
        ("/api/v1/applications", cursor),  # another list's
        ("/api/v1/scorecards", cursor),
    ):
        refused = await stack.http.get(path, params={"cursor": bad}, headers=STAFF)
        assert refused.status_code == 422, (path, bad, refused.text)
        assert refused.json()["detail"] == (
            "cursor is not one this API gave for this list; start again without it"
        )
        assert refused.json()["errors"][0]["field"] == "cursor"
    for bad in ("yesterday", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+05:00"):
        refused = await stack.http.get("/api/v1/applications", params={"updated_after": bad}, headers=STAFF)
        assert refused.status_code == 422, (bad, refused.text)
        assert "updated_after must be an ISO 8601 date and time" in refused.json()["detail"]
        assert refused.json()["errors"][0]["field"] == "updated_after"
    for limit in (0, -1, 501):
        refused = await stack.http.get("/api/v1/jobs", params={"limit": limit}, headers=STAFF)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "limit"
    assert len((await get(stack, "/api/v1/jobs", limit=500)).json()) == 3


async def test_the_link_is_absent_on_the_last_page_and_pages_follow_in_order(stack: Stack) -> None:
    jobs = [(await stack.create_job(title))["id"] for title in ("One", "Two", "Three", "Four", "Five")]
    exact = await get(stack, "/api/v1/jobs", limit=5)
    assert [j["id"] for j in exact.json()] == jobs  # oldest change first
    assert "link" not in exact.headers  # all there: no next page, not even an empty one
    first = await get(stack, "/api/v1/jobs", limit=2)
    second = await get(stack, str(next_url(first)))
    third = await get(stack, str(next_url(second)))
    assert [[j["id"] for j in p.json()] for p in (first, second, third)] == [jobs[:2], jobs[2:4], jobs[4:]]
    assert "link" not in third.headers
    assert all(j["name"] == j["title"] for j in first.json())

    # The thread of an application pages the same way, oldest message first.
    application = await stack.invite(jobs[0])
    await wait_until_quiet(stack)
    quiet_since = (await stack.application(application["id"]))["updated_at"]
    url = f"/api/v1/applications/{application['id']}/messages"
    for n in range(3):
        sent = await stack.http.post(url, json={"body": f"Answer {n}"}, headers=STAFF)
        assert sent.status_code == 201, sent.text
    page = await get(stack, url, limit=2)
    assert [m["body"] for m in page.json()] == ["Answer 0", "Answer 1"]
    rest = await get(stack, str(next_url(page)))
    assert [m["body"] for m in rest.json()] == ["Answer 2"]
    assert "link" not in rest.headers
    # A cursor of this application's thread opens no other one.
    other = await stack.invite(jobs[1])
    cursor = parse_qs(urlsplit(str(next_url(page))).query)["cursor"][0]
    refused = await stack.http.get(
        f"/api/v1/applications/{other['id']}/messages", params={"cursor": cursor}, headers=STAFF
    )
    assert refused.status_code == 422
    # A message is a change of the application: it comes up in a sync of the application list.
    listed = await get(stack, "/api/v1/applications", job_id=jobs[0], updated_after=quiet_since)
    assert [a["id"] for a in listed.json()] == [application["id"]]
    await wait_until_quiet(stack)  # the workflows just started, settled before they are ended


async def test_a_scored_application_in_greenhouse_shapes_and_for_whom(stack: Stack) -> None:
    application_id, _, token = await invited(stack)
    await answer_all(stack, token)
    assert (await stack.http.post(f"/api/v1/candidate/{token}/submit")).status_code == 200
    detail = await stack.wait_status(application_id, "in_review")
    before_scoring = detail["updated_at"]
    reviewer = await stack.as_reviewer(application_id)
    scored = await stack.http.post(
        f"/api/v1/applications/{application_id}/scorecards", json=SCORECARD, headers=reviewer
    )
    assert scored.status_code == 201, scored.text
    job_id = detail["job_id"]

    [card] = (await get(stack, "/api/v1/scorecards", application_id=application_id)).json()
    assert card["overall_recommendation"] == "strong_yes"
    assert card["ratings"] == SCORECARD["ratings"]
    assert card["notes"] == SCORECARD["notes"]
    assert card["interviewer"] == {"id": "sam", "name": "Sam Okafor"}
    assert card["reviewer"] == "sam"
    assert card["interview_step"] == {"id": "review", "name": "Review"}
    assert (card["application_id"], card["job_id"], card["stage_id"]) == (application_id, job_id, "review")
    assert card["candidate_id"] == detail["candidate"]["id"] != ""
    assert card["submitted_by"] is not None
    assert card["updated_at"] == card["submitted_at"]
    assert isinstance(card["id"], int)
    assert [c["id"] for c in (await walk(stack, "/api/v1/scorecards", limit=1))] == [card["id"]]

    # The scorecard moved the application on: it comes up in a sync since before it.
    changed = await get(stack, "/api/v1/applications", updated_after=before_scoring)
    [application] = [a for a in changed.json() if a["id"] == application_id]
    assert application["candidate_id"] == detail["candidate"]["id"]
    assert application["applied_at"] == application["created_at"]
    assert application["last_activity_at"] == application["updated_at"]
    assert application["current_stage"] == {"id": application["stage"], "name": "Decision"}
    assert application["rejected_at"] is None
    rejected = await stack.http.post(
        f"/api/v1/applications/{application_id}/decision", json={"decision": "reject"}, headers=STAFF
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["rejected_at"] is not None

    # A recruiter reads the scorecards and applications of their jobs only, however they page.
    recruiter = make_staff(stack, "recruiter", "ana")
    mine = await stack.http.post(
        "/api/v1/jobs", json={"title": "Mine", "pipeline": "standard"}, headers=recruiter.headers
    )
    assert mine.status_code == 201
    own = [(await stack.invite(mine.json()["id"]))["id"] for _ in range(3)]
    walked = [r["id"] for r in await walk(stack, "/api/v1/applications", recruiter.headers, limit=1)]
    assert sorted(walked) == sorted(own)
    assert await walk(stack, "/api/v1/scorecards", recruiter.headers, limit=1) == []
    assert [j["id"] for j in await walk(stack, "/api/v1/jobs", recruiter.headers, limit=1)] == [
        mine.json()["id"]
    ]
    added = await stack.http.post(
        f"/api/v1/jobs/{job_id}/members", json={"user": recruiter.user_id}, headers=STAFF
    )
    assert added.status_code == 201, added.text
    assert [c["id"] for c in await walk(stack, "/api/v1/scorecards", recruiter.headers)] == [card["id"]]
    # Reviewers read no lists (the scorecard of others is not theirs to sync).
    assert (await stack.http.get("/api/v1/scorecards", headers=reviewer_headers(stack))).status_code == 403
    await wait_until_quiet(stack)


async def test_scorecards_page_in_submission_order_ties_included(stack: Stack) -> None:
    job, elsewhere = (await stack.create_job("Scored"))["id"], (await stack.create_job("Elsewhere"))["id"]
    applications = add_applications(stack, job, 5, tied=1) + add_applications(stack, elsewhere, 2, tied=1)
    when = datetime.now(UTC) - timedelta(minutes=5)
    with Session(stack.engine) as session:
        for n, application_id in enumerate(applications):
            for reviewer in ("sam", "ana"):  # two reviewers each, their scorecards in at the same time
                session.add(
                    Scorecard(
                        application_id=application_id,
                        reviewer=reviewer,
                        overall_recommendation="yes",
                        ratings={"communication": 1 + n % 5},
                        submitted_at=when + timedelta(seconds=n),
                    )
                )
        session.commit()
    cards = await walk(stack, "/api/v1/scorecards", job_id=job, limit=3)
    assert len(cards) == 10
    assert {c["application_id"] for c in cards} == set(applications[:5])
    assert [(c["submitted_at"], c["id"]) for c in cards] == sorted(
        (c["submitted_at"], c["id"]) for c in cards
    )
    assert len({c["id"] for c in cards}) == 10
    assert {c["interviewer"]["name"] for c in cards} == {"Sam Okafor", "Ana Lima"}
    everything = await walk(stack, "/api/v1/scorecards", limit=4)
    assert len(everything) == 14
    since = datetime.fromisoformat(cards[-3]["submitted_at"])
    later = await walk(stack, "/api/v1/scorecards", updated_after=since.isoformat(), limit=1)
    assert [c["id"] for c in later] == [c["id"] for c in everything if at(c) > since]


def reviewer_headers(stack: Stack) -> dict[str, str]:
    return make_staff(stack, "reviewer", "sam").headers
