"""Analytics rollups: what each application contributes to every metric, kept as counters per job,
pipeline and invitation day (and all days), so the analytics read a few hundred rows instead of
every application's.

A write that changes what an application contributes runs inside `tracked(session, id)`: the
application's contribution is computed from its own rows before and after the write, and only the
difference is added to the counters, in the same transaction. A retried write changes nothing and
adds nothing; a corrected scorecard moves its counts; an erasure takes the self-identification out.
The contribution is a pure function of the application's rows (`contribution`), so `rebuild` can
recompute every counter from scratch and a test can check the counters against the raw tables."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from offhours.models import (
    AnalyticsCounter,
    Answer,
    Application,
    EmailMessage,
    ReviewAssignment,
    RollupState,
    ScorecardRating,
    SelfIdentification,
    StageTransition,
)
from pipelines.base import pipeline_from_snapshot
from pipelines.stages import Review

NOT_MOVED_ON = ("rejected", "expired", "withdrawn")
DECIDED = ("approved", "rejected")
ALL_DAYS = ""  # the `day` of the counters summed over every invitation day
Key = tuple[str, str]  # (metric, key)
Counts = defaultdict[Key, float]


@dataclass
class Rows:
    """One application's rows that analytics read."""

    application: Application
    transitions: list[StageTransition] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    ratings: list[ScorecardRating] = field(default_factory=list)
    assignments: list[ReviewAssignment] = field(default_factory=list)
    reminders: list[datetime] = field(default_factory=list)  # sent_at of the reminders sent
    identified: SelfIdentification | None = None


def load(session: Session, application: Application) -> Rows:
    app_id = application.id
    return Rows(
        application,
        list(session.exec(select(StageTransition).where(StageTransition.application_id == app_id))),
        list(session.exec(select(Answer).where(Answer.application_id == app_id))),
        list(session.exec(select(ScorecardRating).where(ScorecardRating.application_id == app_id))),
        list(session.exec(select(ReviewAssignment).where(ReviewAssignment.application_id == app_id))),
        [
            sent
            for sent in session.exec(
                select(EmailMessage.sent_at).where(
                    EmailMessage.application_id == app_id,
                    EmailMessage.template == "reminder",
                    col(EmailMessage.sent_at).is_not(None),
                )
            )
            if sent is not None
        ],
        session.get(SelfIdentification, app_id),
    )


def _weights(application: Application) -> dict[str, dict[str, float]]:
    """Per review stage of the application's own pipeline, its criteria's weights."""
    try:
        pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    except (KeyError, TypeError, ValueError):
        return {}
    return {s.id: {c.id: c.weight for c in s.criteria} for s in pipeline.stages if isinstance(s, Review)}


def _promise(application: Application) -> int | None:
    try:
        rule = pipeline_from_snapshot(application.pipeline_snapshot).check_in
    except (KeyError, TypeError, ValueError):
        return None
    return rule.promised_response if rule is not None else None


def _coincidences(out: Counts, prefix: str, values: Sequence[float]) -> None:
    """One application's share of the coincidence matrix of `prefix` (stage|criterion)."""
    m = len(values)
    if m < 2:
        return
    out["units", prefix] += 1
    counts = Counter(values)
    for c, n_c in counts.items():
        for k, n_k in counts.items():
            pairs = n_c * (n_c - 1) if c == k else n_c * n_k
            if pairs:
                out["coincidence", f"{prefix}|{c!r}|{k!r}"] += pairs / (m - 1)


def contribution(rows: Rows) -> Counts:  # noqa: C901 (one metric after the other, read as a list)
    """What one application adds to every counter (the definitions of the metrics, per application)."""
    a = rows.application
    out: Counts = defaultdict(float)
    transitions = sorted(rows.transitions, key=lambda t: t.seq)
    if not transitions:
        return out  # never started: not invited
    reached = {t.to_status for t in transitions}
    for status in reached:
        out["reached", status] += 1
    if reached & set(DECIDED):
        out["reached", "decided"] += 1
    if a.opened_at is not None:
        out["opened", ""] += 1
    if rows.ratings:
        out["reviewed", ""] += 1
    entered = {t.to_stage for t in transitions if t.from_stage is None or t.from_stage != t.to_stage}
    for stage in entered - {"closed"}:
        out["entered", stage] += 1
    leaving: dict[str, bool] = {}
    for t in transitions:
        if t.from_stage is not None and t.from_stage != t.to_stage:
            leaving[t.from_stage] = leaving.get(t.from_stage, False) or t.to_status not in NOT_MOVED_ON
    for stage, moved in leaving.items():
        out["left", stage] += 1
        if moved:
            out["moved_on", stage] += 1
    # questions: who answered each; where those who gave up after starting stopped
    for question in {answer.question_id for answer in rows.answers}:
        out["answered", question] += 1
    if a.status in ("expired", "withdrawn") and a.started_at is not None:
        out["dropped", ""] += 1
        last = max(rows.answers, key=lambda x: (x.answered_at, x.id or 0), default=None)
        out["stopped", last.question_id if last else ""] += 1
    # reminders: the window the application was submitted in (reminders sent before it)
    submitted = next((t.at for t in transitions if t.to_status == "submitted"), None)
    k = sum(1 for sent in rows.reminders if submitted is None or sent < submitted)
    out["reminders", f"{k}|{int(submitted is not None)}"] += 1
    # the promised response time, kept or not, once decided
    decided = next((t for t in transitions if t.to_status in DECIDED), None)
    promise = _promise(a)
    first_submitted = next((t for t in transitions if t.to_status == "submitted"), None)
    if promise is not None and decided is not None and first_submitted is not None:
        waited = decided.since_invite_seconds - first_submitted.since_invite_seconds
        out["response", "kept" if waited <= promise else "broken"] += 1
    # reviewers
    for r in rows.assignments:
        out["reviewer_assigned", r.reviewer] += 1
        if r.status == "completed":
            out["reviewer_done", r.reviewer] += 1
            on_time = r.closed_at is not None and r.closed_at <= r.due_at
            out["reviewer_on_time" if on_time else "reviewer_late", r.reviewer] += 1
        elif r.status == "reassigned":
            out["reviewer_reassigned", r.reviewer] += 1
        elif r.status == "assigned":
            out["reviewer_open", r.reviewer] += 1
    _agreement(out, rows)
    # adverse impact: each stage left (moved on or not) and the decision, by self-identified group
    who = rows.identified
    sex, race = (who.sex, who.race_ethnicity) if who is not None else ("declined", "declined")
    out["identified", f"{sex}|{race}"] += 1
    for stage, moved in leaving.items():
        if stage != "decision":
            out["impact", f"{stage}|{int(moved)}|{sex}|{race}"] += 1
    if reached & set(DECIDED):
        out["impact", f"decision|{int('approved' in reached)}|{sex}|{race}"] += 1
    return out


def _agreement(out: Counts, rows: Rows) -> None:
    """Scores: distributions, coincidences per criterion and of the weighted score, and the sums of
    ICC(2,·) for the panel that scored the application."""
    weights = _weights(rows.application)
    by_stage: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows.ratings:
        by_stage[r.stage_id][r.reviewer][r.criterion] = r.rating
        out["score", f"{r.stage_id}|{r.criterion}|{r.rating}"] += 1
    for stage, cards in by_stage.items():
        criteria = sorted({c for card in cards.values() for c in card})
        for criterion in criteria:
            _coincidences(
                out, f"{stage}|{criterion}", [card[criterion] for card in cards.values() if criterion in card]
            )
        w = weights.get(stage, {})
        scores = {
            reviewer: sum(v * w.get(c, 1.0) for c, v in card.items()) / sum(w.get(c, 1.0) for c in card)
            for reviewer, card in cards.items()
            if card
        }
        _coincidences(out, f"{stage}|*", list(scores.values()))
        if len(scores) >= 2:
            panel = ",".join(sorted(scores))
            values = [scores[r] for r in sorted(scores)]
            out["icc_n", f"{stage}|{panel}"] += 1
            out["icc_s", f"{stage}|{panel}"] += sum(values)
            out["icc_q", f"{stage}|{panel}"] += sum(v * v for v in values)
            out["icc_r", f"{stage}|{panel}"] += sum(values) ** 2
            for reviewer in sorted(scores):
                out["icc_c", f"{stage}|{panel}|{reviewer}"] += scores[reviewer]


def _add(session: Session, application: Application, delta: dict[Key, float]) -> None:
    changes = [(m, k, v) for (m, k), v in delta.items() if abs(v) > 1e-12]
    if not changes:
        return
    day = application.created_at.date().isoformat()
    rows = [
        {
            "job_id": application.job_id,
            "pipeline_name": application.pipeline_name,
            "day": d,
            "metric": m,
            "key": k,
            "value": v,
        }
        for d in (day, ALL_DAYS)
        for m, k, v in changes
    ]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(AnalyticsCounter)
    statement = statement.on_conflict_do_update(
        index_elements=["job_id", "pipeline_name", "day", "metric", "key"],
        set_={"value": AnalyticsCounter.__table__.c.value + statement.excluded.value},  # type: ignore[attr-defined]
    )
    session.execute(statement, rows)


@contextmanager
def tracked(session: Session, application_id: str) -> Iterator[None]:
    """Around a write to one application's rows: the counters follow in the same transaction."""
    application = session.get(Application, application_id)
    before: Counts = (
        contribution(load(session, application)) if application is not None else defaultdict(float)
    )
    yield
    session.flush()
    application = session.get(Application, application_id)
    if application is None:
        return
    session.refresh(application)
    after = contribution(load(session, application))
    _add(
        session,
        application,
        {key: after.get(key, 0.0) - before.get(key, 0.0) for key in after.keys() | before.keys()},
    )


def rebuild(session: Session, batch: int = 500) -> int:
    """Every counter recomputed from the applications' rows (after a migration, or to check them);
    marks the rollups as built. Returns the number of applications counted."""
    session.execute(delete(AnalyticsCounter))
    ids = list(session.exec(select(Application.id).order_by(col(Application.id))))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        grouped = _load_many(session, chunk)
        for rows in grouped:
            _add(session, rows.application, contribution(rows))
    state = session.get(RollupState, 1) or RollupState(id=1)
    state.built_at = datetime.now(UTC)
    session.add(state)
    return len(ids)


def _load_many(session: Session, ids: Sequence[str]) -> list[Rows]:
    applications = {
        a.id: Rows(a) for a in session.exec(select(Application).where(col(Application.id).in_(ids)))
    }
    for t in session.exec(select(StageTransition).where(col(StageTransition.application_id).in_(ids))):
        applications[t.application_id].transitions.append(t)
    for x in session.exec(select(Answer).where(col(Answer.application_id).in_(ids))):
        applications[x.application_id].answers.append(x)
    for r in session.exec(select(ScorecardRating).where(col(ScorecardRating.application_id).in_(ids))):
        applications[r.application_id].ratings.append(r)
    for ra in session.exec(select(ReviewAssignment).where(col(ReviewAssignment.application_id).in_(ids))):
        applications[ra.application_id].assignments.append(ra)
    for app_id, sent in session.exec(
        select(EmailMessage.application_id, EmailMessage.sent_at).where(
            col(EmailMessage.application_id).in_(ids),
            EmailMessage.template == "reminder",
            col(EmailMessage.sent_at).is_not(None),
        )
    ):
        if sent is not None:
            applications[app_id].reminders.append(sent)
    for s in session.exec(select(SelfIdentification).where(col(SelfIdentification.application_id).in_(ids))):
        applications[s.application_id].identified = s
    return list(applications.values())


def built(session: Session) -> bool:
    state = session.get(RollupState, 1)
    return state is not None and state.built_at is not None
