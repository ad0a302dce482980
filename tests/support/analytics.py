"""A population with known answers for every analytics metric, written through the activities the
workflows call (record_status, record_link_opened, save_answer, save_scorecard), so the read model
is the one production writes. Times are hours after a fixed start."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from activities.applications import ApplicationActivities
from activities.rollups import tracked
from offhours.contracts import (
    AnswerInput,
    LinkOpened,
    SaveAnswer,
    SaveScorecard,
    ScorecardInput,
    StatusChange,
)
from offhours.models import Application, Candidate, EmailMessage, Job, ReviewAssignment, SelfIdentification
from offhours.settings import Settings
from pipelines.registry import get_pipeline

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def at(hours: float, base: datetime = T0) -> datetime:
    return base + timedelta(hours=hours)


@dataclass
class Population:
    engine: Engine
    settings: Settings
    activities: ApplicationActivities = field(init=False)
    ids: dict[str, str] = field(default_factory=dict)  # name -> application id
    invited: dict[str, datetime] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)  # name -> job id

    def __post_init__(self) -> None:
        self.activities = ApplicationActivities(self.engine, self.settings)

    def job(self, title: str, pipeline: str = "standard") -> str:
        job_id = f"job_{uuid.uuid4().hex[:12]}"
        with Session(self.engine) as session:
            session.add(Job(id=job_id, title=title, pipeline=pipeline))
            session.commit()
        return job_id

    def invite(self, name: str, job_id: str, invited: datetime, pipeline: str = "standard") -> str:
        suffix = uuid.uuid4().hex[:12]
        definition = get_pipeline(pipeline)
        with Session(self.engine) as session:
            session.add(
                Candidate(id=f"cnd_{suffix}", name=name, email=f"{suffix}@example.test", timezone="UTC")
            )
            session.commit()
            session.add(
                Application(
                    id=f"app_{suffix}",
                    job_id=job_id,
                    candidate_id=f"cnd_{suffix}",
                    workflow_id=f"application-app_{suffix}",
                    pipeline_name=pipeline,
                    pipeline_version=definition.version,
                    pipeline_snapshot=definition.snapshot(),
                    created_at=invited,
                    updated_at=invited,
                )
            )
            session.commit()
        self.ids[name], self.invited[name], self.jobs[name] = f"app_{suffix}", invited, job_id
        self.status(name, "invited", "invite", 0)
        return f"app_{suffix}"

    def status(self, name: str, status: str, stage: str, hours: float) -> None:
        change = StatusChange(self.ids[name], status, stage, at(hours, self.invited[name]))
        self.activities.record_status(change)
        self.activities.record_status(change)  # a retried activity writes nothing more

    def opened(self, name: str, hours: float) -> None:
        self.activities.record_link_opened(LinkOpened(self.ids[name], at(hours, self.invited[name])))

    def answer(self, name: str, question_id: str, hours: float) -> None:
        answer = AnswerInput(question_id, "choice", text="yes")
        self.activities.save_answer(SaveAnswer(self.ids[name], answer, at(hours, self.invited[name])))

    def _write(self, name: str, change: Any) -> None:
        """A direct write to the application's rows, as its activity or route would make it."""
        with Session(self.engine) as session:
            with tracked(session, self.ids[name]):
                change(session)
            session.commit()

    def assign(self, name: str, reviewer: str, hours: float, due_hours: float = 48) -> None:
        row = ReviewAssignment(
            application_id=self.ids[name],
            stage_id="review",
            reviewer=reviewer,
            assigned_at=at(hours, self.invited[name]),
            due_at=at(hours + due_hours, self.invited[name]),
            job_id=self.jobs[name],
        )
        self._write(name, lambda session: session.add(row))

    def score(self, name: str, reviewer: str, hours: float, ratings: dict[str, int]) -> None:
        card = ScorecardInput(reviewer, "yes", ratings, submitted_by=reviewer)
        self.activities.save_scorecard(
            SaveScorecard(self.ids[name], card, at(hours, self.invited[name]), "review")
        )

    def reassign(self, name: str, reviewer: str, hours: float) -> None:
        def change(session: Session) -> None:
            row = session.exec(
                select(ReviewAssignment).where(
                    ReviewAssignment.application_id == self.ids[name], ReviewAssignment.reviewer == reviewer
                )
            ).one()
            row.status, row.closed_at = "reassigned", at(hours, self.invited[name])
            session.add(row)

        self._write(name, change)

    def reminder(self, name: str, k: int, hours: float) -> None:
        row = EmailMessage(
            application_id=self.ids[name],
            message_key=f"reminder-{k}",
            message_id=f"<{uuid.uuid4().hex}@offhours.test>",
            template="reminder",
            recipient="someone@example.test",
            subject="Reminder",
            status="sent",
            sent_at=at(hours, self.invited[name]),
        )
        self._write(name, lambda session: session.add(row))

    def identify(self, name: str, sex: str, race: str) -> None:
        row = SelfIdentification(application_id=self.ids[name], sex=sex, race_ethnicity=race)
        self._write(name, lambda session: session.add(row))


# Ratings (communication, relevant_experience, motivation) of A1..A5 by the two reviewers.
RATINGS = {
    "A1": (
        {"communication": 5, "relevant_experience": 4, "motivation": 5},
        {"communication": 4, "relevant_experience": 4, "motivation": 5},
    ),
    "A2": (
        {"communication": 4, "relevant_experience": 3, "motivation": 4},
        {"communication": 4, "relevant_experience": 2, "motivation": 3},
    ),
    "A3": (
        {"communication": 3, "relevant_experience": 3, "motivation": 3},
        {"communication": 2, "relevant_experience": 3, "motivation": 4},
    ),
    "A4": (
        {"communication": 2, "relevant_experience": 1, "motivation": 2},
        {"communication": 2, "relevant_experience": 2, "motivation": 1},
    ),
    "A5": (
        {"communication": 1, "relevant_experience": 2, "motivation": 2},
        {"communication": 2, "relevant_experience": 1, "motivation": 1},
    ),
}
SUBMITTED_AFTER = {"A1": 10, "A2": 20, "A3": 30, "A4": 40, "A5": 50, "A6": 60}  # hours after the invite


def seed_journeys(population: Population, job_id: str) -> None:
    """Ten applications on one job (the standard pipeline), invited an hour apart:
    A1..A6 submit (after 10..60 h), A1..A5 are scored by ana and lee, A1..A3 approved and A4, A5
    rejected 49 h after submitting, A6 waits in review; A7 and A8 start and expire after 7 days,
    A9 withdraws before starting, A10 has not opened its link."""
    p = population
    for i in range(1, 11):
        p.invite(f"A{i}", job_id, at(i - 1))
    for i in range(1, 9):
        p.opened(f"A{i}", 0.5)
    for i in range(1, 9):
        p.answer(f"A{i}", "motivation", 1)
        p.status(f"A{i}", "in_progress", "invite", 1)
    for i in range(1, 8):
        p.answer(f"A{i}", "experience", 2)
    for name, hours in SUBMITTED_AFTER.items():
        p.answer(name, "cv", 3)
        p.status(name, "submitted", "interview", hours)
        p.status(name, "in_review", "review", hours + 1)
        p.assign(name, "ana", hours + 1)
        p.assign(name, "lee", hours + 1)
    for name, (ana, lee) in RATINGS.items():
        submitted = SUBMITTED_AFTER[name]
        p.score(name, "ana", submitted + 13, ana)  # 12 h after the assignment: on time
        late = name == "A5"
        p.score(name, "lee", submitted + (61 if late else 37), lee)  # 36 h, or 60 h: late
        p.status(name, "awaiting_decision", "decision", submitted + 25)
        outcome = "approved" if name in ("A1", "A2", "A3") else "rejected"
        p.status(name, outcome, "closed", submitted + 49)
    p.reassign("A6", "ana", SUBMITTED_AFTER["A6"] + 49)  # lee's A6 stays open, past its due time
    for name in ("A7", "A8"):
        p.status(name, "expired", "closed", 168)
    p.status("A9", "withdrawn", "closed", 5)
    # Reminders: A2 one before submitting, A3..A8 two (A7, A8 never submit), A10 one.
    p.reminder("A2", 1, 15)
    for name in ("A3", "A4", "A5", "A6", "A7", "A8"):
        p.reminder(name, 1, 5)
        p.reminder(name, 2, 8 if name == "A3" else 25)
    p.reminder("A10", 1, 15)


def seed_decisions(population: Population, job_id: str) -> None:
    """Applications decided straight after submission, with self-identification: 10 women (3
    approved), 10 men (6 approved), 3 who declined to give their sex (1 approved); 4 of the women
    Asian, every other person White."""
    p = population
    people = (
        [("female", "asian" if i < 4 else "white", i < 3) for i in range(10)]
        + [("male", "white", i < 6) for i in range(10)]
        + [("declined", "white", i < 1) for i in range(3)]
    )
    for i, (sex, race, approved) in enumerate(people):
        name = f"D{i}"
        p.invite(name, job_id, at(i))
        p.status(name, "in_progress", "invite", 1)
        p.status(name, "submitted", "interview", 2)
        p.status(name, "awaiting_decision", "decision", 3)
        p.status(name, "approved" if approved else "rejected", "closed", 4)
        p.identify(name, sex, race)
