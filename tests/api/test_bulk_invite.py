"""Bulk invitations: a CSV through the API and through `offhours invite`. Valid rows are invited
(one email each, over SMTP), bad rows come back with their line and reason, and running the same
file again invites nobody twice; a run cut off before starting workflows is completed by the next."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select
from temporalio.client import WorkflowExecutionStatus
from typer.testing import CliRunner

from offhours import accounts
from offhours.models import Application, Job
from operations.invitations import parse_csv
from tests.support.actors import STAFF, unique_email
from tests.support.records import csv_of, recorded_but_unstarted
from tests.support.stack import Stack, cli_environment
from tools.cli import app as cli


async def post_csv(stack: Stack, job_id: str, text: str, headers: dict[str, str] = STAFF) -> Any:
    return await stack.http.post(
        f"/api/v1/jobs/{job_id}/invitations",
        content=text.encode(),
        headers={**headers, "Content-Type": "text/csv"},
    )


async def test_valid_rows_are_invited_once_and_bad_rows_reported_by_line(stack: Stack) -> None:
    job = await stack.create_job("Seasonal support")
    good = [(f"Person {i}", unique_email(), "Europe/Madrid") for i in range(5)]
    text = (
        csv_of(good[:3])
        + (
            "No Email,not-an-address,UTC\n"  # line 5
            ",nobody@example.com,UTC\n"  # line 6
            f"Wrong Zone,{unique_email()},Mars/Olympus\n"  # line 7
            f"Twice,{good[0][1]},UTC\n"  # line 8
            "\n" + "".join(f"{n},{e},{z}\n" for n, e, z in good[3:])
        )
    )
    response = await post_csv(stack, job["id"], text)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["invited"] == 5
    assert body["already_invited"] == 0
    assert [e["line"] for e in body["errors"]] == [5, 6, 7, 8]
    reasons = [e["reason"] for e in body["errors"]]
    assert "not a valid email address" in reasons[0]
    assert "name is empty" in reasons[1]
    assert "not a time zone" in reasons[2]
    assert "already on line 2" in reasons[3]
    for _, email, _ in good:
        [mail] = await stack.mailbox.wait_for(email, 1)
        assert "Seasonal support" in mail.subject

    again = await post_csv(stack, job["id"], text)
    assert again.json()["invited"] == 0
    assert again.json()["already_invited"] == 5
    await stack.mailbox.settle(1.5)
    assert all(len(stack.mailbox.to(email)) == 1 for _, email, _ in good), "nobody is invited twice"
    with Session(stack.engine) as session:
        assert len(session.exec(select(Application).where(Application.job_id == job["id"])).all()) == 5


async def test_a_file_that_cannot_be_read_is_refused_whole(stack: Stack) -> None:
    job = await stack.create_job("Readers")
    header = await post_csv(stack, job["id"], "full name,mail\nA,a@example.com\n")
    assert header.status_code == 422
    assert "must name the columns name and email" in header.json()["detail"]
    latin1 = await stack.http.post(
        f"/api/v1/jobs/{job['id']}/invitations",
        content="name,email\nJosé,jose@example.com\n".encode("latin-1"),
        headers={**STAFF, "Content-Type": "text/csv"},
    )
    assert latin1.status_code == 422
    assert "UTF-8" in latin1.json()["detail"]
    multipart = await stack.http.post(
        f"/api/v1/jobs/{job['id']}/invitations",
        files={"file": ("people.csv", csv_of([("Ana", unique_email(), "UTC")]).encode(), "text/csv")},
        headers=STAFF,
    )
    assert multipart.status_code == 200
    assert multipart.json()["invited"] == 1


async def test_only_staff_on_the_job_may_invite(stack: Stack) -> None:
    job = await stack.create_job("Guarded")
    with Session(stack.engine) as session:
        recruiter = accounts.create_user(session, unique_email(), "R", "recruiter")
        reviewer = accounts.create_user(session, unique_email(), "V", "reviewer", "sam")
        _, recruiter_token = accounts.create_token(session, recruiter.id, "t")
        _, reviewer_token = accounts.create_token(session, reviewer.id, "t")
        session.commit()
    text = csv_of([("Ana", unique_email(), "UTC")])
    outsider = await post_csv(stack, job["id"], text, {"Authorization": f"Bearer {recruiter_token}"})
    assert outsider.status_code == 404
    refused = await post_csv(stack, job["id"], text, {"Authorization": f"Bearer {reviewer_token}"})
    assert refused.status_code == 403


async def test_a_run_cut_off_before_starting_workflows_is_completed_by_the_next(stack: Stack) -> None:
    email = unique_email()
    job, application = await recorded_but_unstarted(stack, email)
    response = await post_csv(stack, job.id, csv_of([("Cut Off", email, "UTC")]))
    assert response.json()["invited"] == 1, response.text
    await stack.mailbox.wait_for(email, 1)
    description = await stack.client.get_workflow_handle(application.workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING


def test_parse_csv_understands_spreadsheet_exports() -> None:
    rows, bad = parse_csv("\ufeffEmail,Name\r\nana@example.com,Ana\r\n\r\nbob@EXAMPLE.com , Bob \r\n")
    assert bad == []
    assert [(r.line, r.name, r.email, r.timezone) for r in rows] == [
        (2, "Ana", "ana@example.com", "UTC"),
        (4, "Bob", "bob@example.com", "UTC"),
    ]


def test_the_command_line_invites_with_a_progress_bar_and_is_idempotent(
    stack: Stack, tmp_path: Any, monkeypatch: Any
) -> None:
    with Session(stack.engine) as session:
        job = Job(id="job_cli", title="Command line", pipeline="standard")
        session.add(job)
        session.commit()
    people = tmp_path / "people.csv"
    people.write_text(csv_of([(f"P{i}", unique_email(), "UTC") for i in range(4)]) + "Bad,nope,UTC\n")
    cli_environment(stack, monkeypatch)
    runner = CliRunner()
    first = runner.invoke(cli, ["invite", "--job", "job_cli", str(people)])
    assert first.exit_code == 1, first.output  # one bad row
    assert "4 invited, 0 already invited, 1 not invited" in first.output
    assert "line 6:" in first.output
    second = runner.invoke(cli, ["invite", "--job", "job_cli", str(people)])
    assert "0 invited, 4 already invited, 1 not invited" in second.output, second.output
    missing = runner.invoke(cli, ["invite", "--job", "job_nope", str(people)])
    assert missing.exit_code == 2
    assert "no job" in missing.output
