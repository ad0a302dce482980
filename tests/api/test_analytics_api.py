"""The analytics API as each role meets it (ops and auditors everything, recruiters their jobs,
reviewers their own load), its filters and refusals, CSV with small categories suppressed; and the
voluntary self-identification: after submission only, validated, never in a workflow history or a
staff view, erased with the application."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from offhours.models import JobMember, SelfIdentification
from operations import audit
from tests.support.actors import STAFF, make_staff
from tests.support.analytics import Population, seed_decisions, seed_journeys
from tests.support.journeys import answer_all, invited
from tests.support.stack import Stack, cli_environment
from tests.test_privacy import payload_texts
from tools.cli import app

RARE = "native_hawaiian_or_pacific_islander"  # a value no history, page or email would hold otherwise


def _seed(stack: Stack) -> tuple[str, str]:
    population = Population(stack.engine, stack.settings)
    journeys, decisions = population.job("Support engineer"), population.job("Data analyst")
    seed_journeys(population, journeys)
    seed_decisions(population, decisions)
    return journeys, decisions


async def test_each_role_sees_what_it_may(stack: Stack) -> None:
    journeys, decisions = _seed(stack)
    ops = await stack.http.get("/api/v1/analytics/funnel", params={"job_id": journeys}, headers=STAFF)
    assert ops.status_code == 200, ops.text
    assert ops.json()["counts"]["submitted"] == 6
    assert ops.json()["rates"]["taken"] == 0.8

    auditor = make_staff(stack, "auditor")
    seen = await stack.http.get(
        "/api/v1/analytics/adverse-impact", params={"job_id": decisions}, headers=auditor.headers
    )
    assert seen.status_code == 200
    women = next(r for r in seen.json()["rows"] if r["stage"] == "decision" and r["category"] == "female")
    assert (women["applicants"], women["selected"], women["flagged"]) == (10, 3, True)

    recruiter = make_staff(stack, "recruiter", "ana")
    refused = await stack.http.get(
        "/api/v1/analytics/funnel", params={"job_id": journeys}, headers=recruiter.headers
    )
    assert refused.status_code == 404  # not on the job: as if it did not exist
    nothing = await stack.http.get("/api/v1/analytics/funnel", headers=recruiter.headers)
    assert nothing.json()["counts"]["invited"] == 0  # on no job yet
    with Session(stack.engine) as session:
        session.add(JobMember(job_id=journeys, user_id=recruiter.user_id))
        session.commit()
    mine = await stack.http.get("/api/v1/analytics/funnel", headers=recruiter.headers)
    assert mine.json()["counts"]["invited"] == 10  # the one job they are on, not the other
    impact = await stack.http.get(
        "/api/v1/analytics/adverse-impact", params={"job_id": decisions}, headers=recruiter.headers
    )
    assert impact.status_code == 404

    reviewer = make_staff(stack, "reviewer", "lee")
    for metric in ("funnel", "stages", "questions", "reminders", "agreement", "adverse-impact"):
        response = await stack.http.get(f"/api/v1/analytics/{metric}", headers=reviewer.headers)
        assert response.status_code == 403, metric
        assert "needs one of: auditor, ops, recruiter" in response.json()["detail"]
    load = await stack.http.get("/api/v1/analytics/reviewers", headers=reviewer.headers)
    assert load.status_code == 200
    assert [r["reviewer"] for r in load.json()["reviewers"]] == ["lee"]
    assert load.json()["reviewers"][0]["assigned"] == 6


async def test_every_metric_answers_json_and_csv(stack: Stack) -> None:
    journeys, decisions = _seed(stack)
    for metric in ("funnel", "stages", "questions", "reminders", "reviewers", "agreement", "adverse-impact"):
        job = decisions if metric == "adverse-impact" else journeys
        as_json = await stack.http.get(f"/api/v1/analytics/{metric}", params={"job_id": job}, headers=STAFF)
        assert as_json.status_code == 200, (metric, as_json.text)
        as_csv = await stack.http.get(
            f"/api/v1/analytics/{metric}", params={"job_id": job, "format": "csv"}, headers=STAFF
        )
        assert as_csv.status_code == 200, metric
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert f'filename="{metric}.csv"' in as_csv.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(as_csv.text)))
        assert len(rows) >= 2, metric
    agreement = (
        await stack.http.get("/api/v1/analytics/agreement", params={"job_id": journeys}, headers=STAFF)
    ).json()
    [stage] = agreement["stages"]
    assert set(stage) >= {"stage_id", "alpha_interval", "alpha_ordinal", "icc2_1", "icc2_k", "criteria"}
    assert {c["id"] for c in stage["criteria"]} == {"communication", "relevant_experience", "motivation"}

    impact = await stack.http.get(
        "/api/v1/analytics/adverse-impact", params={"job_id": decisions, "format": "csv"}, headers=STAFF
    )
    table = list(csv.DictReader(io.StringIO(impact.text)))
    asian = next(r for r in table if r["stage"] == "decision" and r["category"] == "asian")
    assert (asian["applicants"], asian["selected"], asian["selection_rate"]) == (
        "fewer than 5",
        "fewer than 5",
        "",
    )
    women = next(r for r in table if r["stage"] == "decision" and r["category"] == "female")
    assert (women["applicants"], women["selected"], women["impact_ratio"], women["flagged"]) == (
        "10",
        "3",
        "0.5",
        "yes",
    )
    total = next(r for r in table if r["stage"] == "decision" and r["category"] == "total")
    assert total["applicants"] == "23"  # the small categories are counted in the totals
    as_json = await stack.http.get(
        "/api/v1/analytics/adverse-impact", params={"job_id": decisions}, headers=STAFF
    )
    row = next(r for r in as_json.json()["rows"] if r["stage"] == "decision" and r["category"] == "asian")
    assert row["suppressed"] is True


async def test_filters_and_refusals(stack: Stack) -> None:
    journeys, _ = _seed(stack)
    api = "/api/v1/analytics/funnel"
    window = {"job_id": journeys, "from": "2026-09-01T09:00:00Z", "to": "2026-09-01T14:00:00+00:00"}
    early = await stack.http.get(api, params=window, headers=STAFF)
    assert early.json()["counts"]["invited"] == 5  # A1..A5, invited at 9:00 .. 13:00
    day = await stack.http.get(
        api, params={"job_id": journeys, "from": "2026-09-01", "to": "2026-09-01"}, headers=STAFF
    )
    assert day.json()["counts"]["invited"] == 10  # a date for `to` includes that day
    pipeline = await stack.http.get(api, params={"job_id": journeys, "pipeline": "internship"}, headers=STAFF)
    assert pipeline.json()["counts"]["invited"] == 0
    for params, says in (
        ({"from": "yesterday"}, "'from' must be a date"),
        ({"from": "2026-09-02", "to": "2026-09-01"}, "'from' must come before 'to'"),
        ({"pipeline": "no-such-pipeline"}, "no pipeline named"),
        ({"job_id": "job_nonexistent"}, "no job with id"),
    ):
        response = await stack.http.get(api, params=params, headers=STAFF)
        assert response.status_code in (404, 422), params
        assert says in response.json()["detail"], response.text
    wrong_format = await stack.http.get(api, params={"format": "xml"}, headers=STAFF)
    assert wrong_format.status_code == 422
    assert (await stack.http.get(api)).status_code == 401


async def test_self_identification_is_kept_apart_and_erased(stack: Stack) -> None:
    application_id, _, token = await invited(stack)
    url = f"/api/v1/candidate/{token}/self-identification"
    answer = {"sex": "female", "race_ethnicity": RARE}
    early = await stack.http.post(url, json=answer)
    assert early.status_code == 409
    assert "once your application is submitted" in early.json()["detail"]
    await answer_all(stack, token)
    submitted = await stack.http.post(f"/api/v1/candidate/{token}/submit")
    assert submitted.status_code == 200, submitted.text
    await stack.wait_status(application_id, "submitted")

    bad = await stack.http.post(url, json={"sex": "other", "race_ethnicity": "white"})
    assert bad.status_code == 422
    assert "sex" in bad.text
    assert (await stack.http.post(url, json={"sex": "female"})).status_code == 422
    first = await stack.http.post(url, json={"sex": "male", "race_ethnicity": "white"})
    assert first.status_code == 200, first.text
    again = await stack.http.post(url, json=answer)  # answered again: the later answer stands
    assert again.json()["race_ethnicity"] == RARE
    with Session(stack.engine) as session:
        row = session.get(SelfIdentification, application_id)
        assert row is not None
        assert (row.sex, row.race_ethnicity) == ("female", RARE)

    # Never in the workflow's history, nor in what staff see of the application.
    exported = await audit.export(stack.client, f"application-{application_id}")
    assert RARE not in payload_texts(exported)
    assert RARE not in json.dumps(exported)
    detail = await stack.http.get(f"/api/v1/applications/{application_id}", headers=STAFF)
    assert RARE not in detail.text
    assert "female" not in detail.text
    page = await stack.http.get(
        f"/staff/applications/{application_id}", headers={**STAFF, "Accept": "text/html"}
    )
    assert RARE not in page.text
    # Only in aggregates: one person is a category of fewer than five
    impact = await stack.http.get("/api/v1/analytics/adverse-impact", params={"format": "csv"}, headers=STAFF)
    assert "fewer than 5" in impact.text

    erased = await stack.http.post(
        f"/api/v1/applications/{application_id}/erasure", json={"reason": "asked"}, headers=STAFF
    )
    assert erased.status_code == 202, erased.text
    async with asyncio.timeout(20):
        while True:
            with Session(stack.engine) as session:
                if session.get(SelfIdentification, application_id) is None:
                    break
            await asyncio.sleep(0.1)


async def test_dashboard_draws_every_chart_with_its_table(stack: Stack) -> None:
    journeys, decisions = _seed(stack)
    html = {**STAFF, "Accept": "text/html"}
    page = await stack.http.get("/staff/analytics", params={"job_id": journeys}, headers=html)
    assert page.status_code == 200, page.text
    for chart in ("funnel", "stages", "questions", "reminders", "reviewers", "agreement", "impact"):
        assert f'id="chart-{chart}-title"' in page.text, chart
    assert page.text.count('role="img"') >= 7 + 3  # and one score histogram per criterion
    assert page.text.count("<table>") == 7
    assert "<script" not in page.text.split("<main", 1)[-1]
    assert "style=" not in page.text
    assert "/api/v1/analytics/funnel?job_id=" in page.text
    impact = await stack.http.get("/staff/analytics", params={"job_id": decisions}, headers=html)
    assert "fewer than 5" in impact.text
    assert "(flagged)" in impact.text  # women's impact ratio of 0.5 at the decision
    bad = await stack.http.get("/staff/analytics", params={"from": "soon"}, headers=html)
    assert bad.status_code == 422
    assert "&#39;from&#39; must be a date" in bad.text
    reviewer = make_staff(stack, "reviewer", "lee")
    refused = await stack.http.get("/staff/analytics", headers={**reviewer.headers, "Accept": "text/html"})
    assert refused.status_code == 403


async def test_the_report_command_prints_the_same_tables(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    journeys, decisions = _seed(stack)
    cli_environment(stack, monkeypatch)
    runner = CliRunner()
    funnel = runner.invoke(app, ["report", "funnel", "--job", journeys], env={"COLUMNS": "160"})
    assert funnel.exit_code == 0, funnel.output
    assert "invited" in funnel.output
    assert "│ 10" in funnel.output
    impact = runner.invoke(app, ["report", "adverse-impact", "--job", decisions, "--csv"])
    assert impact.exit_code == 0, impact.output
    api = await stack.http.get(
        "/api/v1/analytics/adverse-impact", params={"job_id": decisions, "format": "csv"}, headers=STAFF
    )
    assert impact.output.replace("\r\n", "\n") == api.text.replace("\r\n", "\n")  # the same table
    agreement = runner.invoke(app, ["report", "agreement", "--job", journeys], env={"COLUMNS": "160"})
    assert agreement.exit_code == 0, agreement.output
    assert "weighted score" in agreement.output
    rebuilt = runner.invoke(app, ["analytics", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "rebuilt from 33 applications" in rebuilt.output
    again = runner.invoke(app, ["report", "adverse-impact", "--job", decisions, "--csv"])
    assert again.output == impact.output  # the counters the writes kept are the ones rebuilt
    unknown = runner.invoke(app, ["report", "funnel", "--job", "job_nope"])
    assert unknown.exit_code == 2
    assert "no job with id" in unknown.output
