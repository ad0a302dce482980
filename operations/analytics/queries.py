"""The metrics, computed by SQL aggregates over the read model (the same queries on SQLite and
PostgreSQL), never by a loop over every application.

A scope is the applications invited (created) in [start, end) on the jobs and pipeline asked for.
Percentiles are nearest-rank (`statistics.nearest_rank`), computed in SQL with window functions:
the median is the value of rank ceil(n/2), p90 of rank ceil(9n/10)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, distinct, func, literal, or_, select
from sqlalchemy.sql.selectable import Subquery
from sqlmodel import Session, col

from offhours.models import (
    Answer,
    Application,
    EmailMessage,
    ReviewAssignment,
    ScorecardRating,
    SelfIdentification,
    StageTransition,
)
from operations.analytics import shapes
from operations.analytics.statistics import (
    ICC,
    alpha_from_coincidences,
    icc2_from_sums,
)
from pipelines.base import Pipeline
from pipelines.registry import PIPELINES
from pipelines.stages import Review

FUNNEL = (
    "invited",
    "opened",
    "started",
    "submitted",
    "reviewed",
    "decided",
    "approved",
    "rejected",
    "expired",
    "withdrawn",
)
NOT_MOVED_ON = ("rejected", "expired", "withdrawn")  # leaving a stage with these ends the application
DECIDED = ("approved", "rejected")


@dataclass(frozen=True)
class Scope:
    """Which applications count: `job_ids` None means every job (ops, auditors); a recruiter's scope
    is the jobs they are on. `reviewer` narrows the reviewer report to one person's own load."""

    job_ids: tuple[str, ...] | None = None
    pipeline: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    reviewer: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def on_transitions(self) -> list[ColumnElement[bool]]:
        return self.where_on(
            col(StageTransition.job_id), col(StageTransition.pipeline_name), col(StageTransition.invited_at)
        )

    def on_applications(self) -> list[ColumnElement[bool]]:
        return self.where_on(
            col(Application.job_id), col(Application.pipeline_name), col(Application.created_at)
        )

    def where_on(self, job: Any, pipeline: Any, invited: Any) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.job_ids is not None:
            where.append(job.in_(self.job_ids) if self.job_ids else literal(False))
        if self.pipeline is not None:
            where.append(pipeline == self.pipeline)
        if self.start is not None:
            where.append(invited >= self.start)
        if self.end is not None:
            where.append(invited < self.end)
        return where


def _pipelines(session: Session, scope: Scope) -> list[Pipeline]:
    """The pipelines of the applications in scope, as defined now (stage order, questions, rubric)."""
    if scope.pipeline is not None:
        names: Iterable[str] = [scope.pipeline]
    else:
        names = (
            session.execute(
                select(col(StageTransition.pipeline_name)).where(*scope.on_transitions()).distinct()
            )
            .scalars()
            .all()
        )
    return [PIPELINES[name] for name in sorted(names) if name in PIPELINES]


# ------------------------------------------------------------------------------------ percentiles


def _percentiles(session: Session, values: Subquery) -> dict[Any, tuple[int, float | None, float | None]]:
    """{key: (n, median, p90)} over a subquery of (key, value) rows, nearest-rank, in SQL."""
    rank = func.row_number().over(partition_by=values.c.key, order_by=values.c.value)
    total = func.count().over(partition_by=values.c.key)
    ranked = select(values.c.key, values.c.value, rank.label("rn"), total.label("n")).subquery()
    rows = session.execute(
        select(
            ranked.c.key,
            func.max(ranked.c.n),
            func.min(case((2 * ranked.c.rn >= ranked.c.n, ranked.c.value))),
            func.min(case((10 * ranked.c.rn >= 9 * ranked.c.n, ranked.c.value))),
        ).group_by(ranked.c.key)
    ).all()
    return {key: (int(n), median, p90) for key, n, median, p90 in rows}


def _summary(found: tuple[int, float | None, float | None] | None) -> dict[str, Any]:
    n, median, p90 = found or (0, None, None)
    return {"n": n, "median_seconds": median, "p90_seconds": p90}


# ------------------------------------------------------------------------------------ milestones


def _milestones(scope: Scope) -> Subquery:
    """One row per application in scope: since its invitation, when it first reached each status
    (None: never), and whether it ever reached each final one."""
    t = StageTransition

    def first(*statuses: str) -> Any:
        return func.min(case((col(t.to_status).in_(statuses), col(t.since_invite_seconds))))

    return (
        select(
            col(t.application_id).label("application_id"),
            func.max(col(t.pipeline_name)).label("pipeline_name"),
            first("invited").label("invited"),
            first("in_progress").label("started"),
            first("submitted").label("submitted"),
            first(*DECIDED).label("decided"),
            first("approved").label("approved"),
            first("rejected").label("rejected"),
            first("expired").label("expired"),
            first("withdrawn").label("withdrawn"),
        )
        .where(*scope.on_transitions())
        .group_by(col(t.application_id))
        .subquery()
    )


def funnel(session: Session, scope: Scope) -> dict[str, Any]:
    """Counts of the applications that ever reached each point, the rates between them, and each
    stage's pass-through."""
    m = _milestones(scope)
    names = ("invited", "started", "submitted", "decided", "approved", "rejected", "expired", "withdrawn")
    row = session.execute(select(*(func.count(m.c[name]) for name in names))).one()
    counts: dict[str, int] = dict.fromkeys(FUNNEL, 0)
    counts.update({name: int(value or 0) for name, value in zip(names, row, strict=True)})
    counts["opened"] = int(
        session.execute(
            select(func.count()).where(col(Application.opened_at).is_not(None), *scope.on_applications())
        ).scalar_one()
    )
    r = ScorecardRating
    counts["reviewed"] = int(
        session.execute(
            select(func.count(distinct(col(r.application_id)))).where(
                *scope.where_on(col(r.job_id), col(r.pipeline_name), col(r.invited_at))
            )
        ).scalar_one()
    )
    rates = shapes.rates(counts)
    passing = shapes.pass_through(_stage_counts(session, scope))
    return {"counts": counts, "rates": rates, "pass_through": passing}


def _stage_counts(session: Session, scope: Scope) -> list[dict[str, Any]]:
    """Per stage: entered, left (moved on, or not), still in it; in the pipelines' order."""
    t = StageTransition
    entered: dict[str, int] = dict(
        session.execute(
            select(col(t.to_stage), func.count(distinct(col(t.application_id))))
            .where(
                or_(col(t.from_stage).is_(None), col(t.from_stage) != col(t.to_stage)),
                *scope.on_transitions(),
            )
            .group_by(col(t.to_stage))
        ).all()
    )
    left = {
        stage: (int(total), int(moved or 0))
        for stage, total, moved in session.execute(
            select(
                t.from_stage,  # type: ignore[call-overload]
                func.count(distinct(col(t.application_id))),
                func.count(distinct(case((col(t.to_status).not_in(NOT_MOVED_ON), col(t.application_id))))),
            )
            .where(col(t.from_stage) != col(t.to_stage), *scope.on_transitions())
            .group_by(col(t.from_stage))
        ).all()
    }
    return shapes.stage_rows(
        _pipelines(session, scope),
        entered,
        {stage: total for stage, (total, _) in left.items()},
        {stage: moved for stage, (_, moved) in left.items()},
    )


def stages(session: Session, scope: Scope) -> dict[str, Any]:
    """Each stage's counts and pass-through, the time spent in it (median, p90 over completed stays),
    time to complete (invited to submitted) and to decision, and the promised response time kept."""
    t = StageTransition
    stays = (
        select(col(t.from_stage).label("key"), col(t.stay_seconds).label("value"))
        .where(
            col(t.stay_seconds).is_not(None), col(t.from_stage) != col(t.to_stage), *scope.on_transitions()
        )
        .subquery()
    )
    times = _percentiles(session, stays)
    rows = [{**s, **_summary(times.get(s["stage_id"]))} for s in _stage_counts(session, scope)]
    m = _milestones(scope)
    overall = {}
    for name in ("submitted", "decided"):
        values = (
            select(literal(1).label("key"), m.c[name].label("value")).where(m.c[name].is_not(None)).subquery()
        )
        overall[name] = _summary(_percentiles(session, values).get(1))
    return {
        "stages": rows,
        "time_to_complete": overall["submitted"],
        "time_to_decision": overall["decided"],
        "response_time": _response_time(session, scope, m),
    }


def _response_time(session: Session, scope: Scope, m: Subquery) -> dict[str, Any]:
    """The share of submitted applications that heard the decision within the pipeline's promised
    response time (check-ins); those still waiting inside it are not counted yet."""
    promises = {p.name: p.check_in.promised_response for p in _pipelines(session, scope) if p.check_in}
    if not promises:
        return {"applications": 0, "kept": 0, "share": None}
    promised = case(*((m.c.pipeline_name == name, float(s)) for name, s in promises.items()), else_=None)
    waited = m.c.decided - m.c.submitted
    row = session.execute(
        select(
            func.count(case((waited.is_not(None), 1))),
            func.count(case((and_(waited.is_not(None), waited <= promised), 1))),
        ).where(m.c.submitted.is_not(None), promised.is_not(None))
    ).one()
    still = _still_waiting_past(session, scope, promises)
    applications = int(row[0]) + still
    return {
        "applications": applications,
        "kept": int(row[1]),
        "share": shapes.share(int(row[1]), applications),
    }


def _still_waiting_past(session: Session, scope: Scope, promises: dict[str, int]) -> int:
    """Submitted, not decided, and waiting longer than promised: the promise is already broken."""
    a = Application
    late = or_(
        *(
            and_(col(a.pipeline_name) == name, col(a.submitted_at) < _minus(scope.now, seconds))
            for name, seconds in promises.items()
        )
    )
    return int(
        session.execute(
            select(func.count()).where(
                col(a.submitted_at).is_not(None),
                col(a.decided_at).is_(None),
                col(a.status).not_in((*DECIDED, "expired", "withdrawn")),
                late,
                *scope.on_applications(),
            )
        ).scalar_one()
    )


def _minus(now: datetime, seconds: int) -> datetime:
    return now - timedelta(seconds=seconds)


# ------------------------------------------------------------------------------------ questions


def questions(session: Session, scope: Scope) -> dict[str, Any]:
    """Per interview question, in the pipeline's order: the share of starters who answered it, and
    among applications that ended expired or withdrawn after starting, how many stopped after it (it
    was the last question they answered)."""
    a, ans = Application, Answer
    started = int(
        session.execute(
            select(func.count()).where(col(a.started_at).is_not(None), *scope.on_applications())
        ).scalar_one()
    )
    answered: dict[str, int] = dict(
        session.execute(
            select(col(ans.question_id), func.count(distinct(col(ans.application_id))))
            .join(a, col(a.id) == col(ans.application_id))
            .where(col(a.started_at).is_not(None), *scope.on_applications())
            .group_by(col(ans.question_id))
        ).all()
    )
    gave_up = and_(col(a.status).in_(("expired", "withdrawn")), col(a.started_at).is_not(None))
    latest = func.row_number().over(
        partition_by=col(ans.application_id), order_by=(col(ans.answered_at).desc(), col(ans.id).desc())
    )
    last = (
        select(col(ans.question_id).label("question_id"), latest.label("rn"))
        .join(a, col(a.id) == col(ans.application_id))
        .where(gave_up, *scope.on_applications())
        .subquery()
    )
    stopped = dict(
        session.execute(
            select(last.c.question_id, func.count()).where(last.c.rn == 1).group_by(last.c.question_id)
        ).all()
    )
    dropped = int(session.execute(select(func.count()).where(gave_up, *scope.on_applications())).scalar_one())
    rows = shapes.question_rows(_pipelines(session, scope), started, answered, stopped)
    return {
        "started": started,
        "dropped_out": dropped,
        "dropped_out_before_answering": dropped - sum(int(v) for v in stopped.values()),
        "questions": rows,
    }


# ------------------------------------------------------------------------------------ reminders


def reminders(session: Session, scope: Scope) -> dict[str, Any]:
    """Submissions in each reminder's window: window k holds the applications submitted after the
    k-th reminder and before the next (window 0: before any). `reached` counts the applications that
    were sent reminder k while not yet submitted; `share` = submitted in the window / reached."""
    a, e = Application, EmailMessage
    before = or_(col(a.submitted_at).is_(None), col(e.sent_at) < col(a.submitted_at))
    per_application = (
        select(
            col(a.id).label("id"),
            case((col(a.submitted_at).is_not(None), 1), else_=0).label("submitted"),
            func.count(col(e.id)).label("k"),
        )
        .select_from(a)
        .outerjoin(
            e,
            and_(
                col(e.application_id) == col(a.id),
                col(e.template) == "reminder",
                col(e.sent_at).is_not(None),
                before,
            ),
        )
        .where(*scope.on_applications())
        .group_by(col(a.id))
        .subquery()
    )
    rows = session.execute(
        select(per_application.c.k, per_application.c.submitted, func.count()).group_by(
            per_application.c.k, per_application.c.submitted
        )
    ).all()
    return shapes.reminder_windows((int(k), int(submitted), int(n)) for k, submitted, n in rows)


# ------------------------------------------------------------------------------------ reviewers


def seconds_between(session: Session, start: Any, end: Any) -> Any:
    """end - start in seconds, in the database's own date arithmetic."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def reviewers(session: Session, scope: Scope) -> dict[str, Any]:
    """Per reviewer: assigned, done, on time (scored by the due time), overdue (scored late, or open
    past it), reassigned (taken off after the SLA), still open, and the median time to score."""
    r, a = ReviewAssignment, Application
    where = [*scope.on_applications()]
    if scope.reviewer is not None:
        where.append(col(r.reviewer) == scope.reviewer)
    done = col(r.status) == "completed"
    rows = session.execute(
        select(
            r.reviewer,  # type: ignore[call-overload]
            func.count(),
            func.count(case((done, 1))),
            func.count(case((and_(done, col(r.closed_at) <= col(r.due_at)), 1))),
            func.count(
                case(
                    (
                        or_(
                            and_(done, col(r.closed_at) > col(r.due_at)),
                            and_(col(r.status) == "assigned", col(r.due_at) < scope.now),
                        ),
                        1,
                    )
                )
            ),
            func.count(case((col(r.status) == "reassigned", 1))),
            func.count(case((col(r.status) == "assigned", 1))),
        )
        .join(a, col(a.id) == col(r.application_id))
        .where(*where)
        .group_by(col(r.reviewer))
        .order_by(col(r.reviewer))
    ).all()
    durations = (
        select(
            col(r.reviewer).label("key"), seconds_between(session, r.assigned_at, r.closed_at).label("value")
        )
        .join(a, col(a.id) == col(r.application_id))
        .where(done, col(r.closed_at).is_not(None), *where)
        .subquery()
    )
    times = _percentiles(session, durations)
    return {
        "reviewers": [
            {
                "reviewer": reviewer,
                "assigned": int(assigned),
                "done": int(finished),
                "on_time": int(on_time),
                "overdue": int(overdue),
                "reassigned": int(reassigned),
                "open": int(still_open),
                "on_time_share": shapes.share(int(on_time), int(finished)),
                "median_seconds_to_score": (times.get(reviewer) or (0, None, None))[1],
            }
            for reviewer, assigned, finished, on_time, overdue, reassigned, still_open in rows
        ]
    }


# ------------------------------------------------------------------------------------ agreement


def _ratings(scope: Scope, stage_id: str) -> list[ColumnElement[bool]]:
    s = ScorecardRating
    return [
        col(s.stage_id) == stage_id,
        *scope.where_on(col(s.job_id), col(s.pipeline_name), col(s.invited_at)),
    ]


def _weighted(scope: Scope, stage_id: str, weights: dict[str, float]) -> Subquery:
    """(unit, rater, value): each scorecard's weighted score on the stage's rubric."""
    s = ScorecardRating
    weight = (
        case(*((col(s.criterion) == c, w) for c, w in weights.items()), else_=1.0)
        if weights
        else literal(1.0)
    )
    return (
        select(
            col(s.application_id).label("unit"),
            col(s.reviewer).label("rater"),
            (func.sum(col(s.rating) * weight) / func.sum(weight)).label("value"),
        )
        .where(*_ratings(scope, stage_id))
        .group_by(col(s.application_id), col(s.reviewer))
        .subquery()
    )


def _coincidences(
    session: Session, rated: Subquery
) -> tuple[dict[Any, dict[tuple[float, float], float]], dict[Any, int]]:
    """Per group (a criterion, or one group for the weighted score): the coincidence matrix
    o[c, k] = sum over applications of n_c * (n_k - [c = k]) / (m - 1), built in SQL from the counts
    of each value per application; and the number of applications scored at least twice."""
    c = (
        select(rated.c.grp, rated.c.unit, rated.c.value, func.count().label("n"))
        .group_by(rated.c.grp, rated.c.unit, rated.c.value)
        .subquery()
    )
    m = (
        select(c.c.grp, c.c.unit, func.sum(c.c.n).label("m"))
        .group_by(c.c.grp, c.c.unit)
        .having(func.sum(c.c.n) >= 2)
        .subquery()
    )
    c2 = c.alias("c2")
    same = case((c.c.value == c2.c.value, 1), else_=0)
    rows = session.execute(
        select(c.c.grp, c.c.value, c2.c.value, func.sum(c.c.n * (c2.c.n - same) * 1.0 / (m.c.m - 1)))
        .select_from(c)
        .join(c2, and_(c2.c.grp == c.c.grp, c2.c.unit == c.c.unit))
        .join(m, and_(m.c.grp == c.c.grp, m.c.unit == c.c.unit))
        .group_by(c.c.grp, c.c.value, c2.c.value)
    ).all()
    matrices: dict[Any, dict[tuple[float, float], float]] = defaultdict(dict)
    for group, x, y, o in rows:
        if o:
            matrices[group][float(x), float(y)] = float(o)
    units = dict(session.execute(select(m.c.grp, func.count()).group_by(m.c.grp)).all())
    return matrices, {k: int(v) for k, v in units.items()}


def _panel_key(session: Session, rater: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        return func.string_agg(rater, aggregate_order_by(literal(","), rater))
    return func.group_concat(rater, ",")  # over rows ordered by rater (below)


def _icc(session: Session, weighted: Subquery) -> tuple[ICC, int, int]:
    """ICC(2,1) and ICC(2,k) on the complete part of the design: the applications scored by the most
    common panel (the same k >= 2 reviewers), from sums computed in SQL."""
    ordered = select(weighted.c.unit, weighted.c.rater).order_by(weighted.c.unit, weighted.c.rater).subquery()
    panels = (
        select(ordered.c.unit, _panel_key(session, ordered.c.rater).label("panel"), func.count().label("k"))
        .group_by(ordered.c.unit)
        .subquery()
    )
    best = session.execute(
        select(panels.c.panel, panels.c.k, func.count().label("n"))
        .where(panels.c.k >= 2)
        .group_by(panels.c.panel, panels.c.k)
        .order_by(func.count().desc(), panels.c.k.desc(), panels.c.panel)
        .limit(1)
    ).first()
    if best is None or best.n < 2:
        return ICC(None, None), 0 if best is None else int(best.n), 0 if best is None else int(best.k)
    cells = (
        select(weighted.c.unit, weighted.c.rater, weighted.c.value)
        .join(panels, panels.c.unit == weighted.c.unit)
        .where(panels.c.panel == best.panel)
        .subquery()
    )
    total, squares = session.execute(
        select(func.sum(cells.c.value), func.sum(cells.c.value * cells.c.value))
    ).one()
    by_row = select(func.sum(cells.c.value).label("t")).group_by(cells.c.unit).subquery()
    by_column = select(func.sum(cells.c.value).label("t")).group_by(cells.c.rater).subquery()
    row_squares = session.execute(select(func.sum(by_row.c.t * by_row.c.t))).scalar_one()
    column_squares = session.execute(select(func.sum(by_column.c.t * by_column.c.t))).scalar_one()
    icc = icc2_from_sums(
        int(best.n),
        int(best.k),
        total=float(total),
        squares=float(squares),
        row_squares=float(row_squares),
        column_squares=float(column_squares),
    )
    return icc, int(best.n), int(best.k)


def agreement(session: Session, scope: Scope) -> dict[str, Any]:
    """Per review stage: alpha (interval, ordinal) on each reviewer's weighted score and per
    criterion, ICC(2,1)/ICC(2,k) where a complete design exists, and each criterion's distribution."""
    s = ScorecardRating
    out: list[dict[str, Any]] = []
    for pipeline in _pipelines(session, scope):
        for stage in pipeline.stages:
            if not isinstance(stage, Review) or any(x["stage_id"] == stage.id for x in out):
                continue
            weights = {c.id: c.weight for c in stage.criteria}
            weighted = _weighted(scope, stage.id, weights)
            overall, units = _coincidences(
                session, select(literal("").label("grp"), weighted.c.unit, weighted.c.value).subquery()
            )
            per_criterion, _ = _coincidences(
                session,
                select(
                    col(s.criterion).label("grp"),
                    col(s.application_id).label("unit"),
                    col(s.rating).label("value"),
                )
                .where(*_ratings(scope, stage.id))
                .subquery(),
            )
            icc, icc_n, icc_k = _icc(session, weighted)
            matrix = overall.get("", {})
            out.append(
                {
                    "stage_id": stage.id,
                    "applications": units.get("", 0),
                    "alpha_interval": alpha_from_coincidences(matrix, "interval"),
                    "alpha_ordinal": alpha_from_coincidences(matrix, "ordinal"),
                    "icc2_1": icc.icc2_1,
                    "icc2_k": icc.icc2_k,
                    "icc_applications": icc_n,
                    "icc_reviewers": icc_k,
                    "criteria": [
                        {
                            "id": c.id,
                            "title": c.title,
                            "alpha_interval": alpha_from_coincidences(
                                per_criterion.get(c.id, {}), "interval"
                            ),
                            "alpha_ordinal": alpha_from_coincidences(per_criterion.get(c.id, {}), "ordinal"),
                        }
                        for c in stage.criteria
                    ],
                    "distributions": _distributions(session, scope, stage.id, [c.id for c in stage.criteria]),
                }
            )
    return {"stages": out}


def _distributions(
    session: Session, scope: Scope, stage_id: str, criteria: Sequence[str]
) -> list[dict[str, Any]]:
    s = ScorecardRating
    found: dict[str, dict[str, int]] = {c: {str(v): 0 for v in range(1, 6)} for c in criteria}
    for criterion, rating, n in session.execute(
        select(col(s.criterion), col(s.rating), func.count())
        .where(*_ratings(scope, stage_id))
        .group_by(col(s.criterion), col(s.rating))
    ).all():
        found.setdefault(criterion, {})[str(rating)] = int(n)
    return [{"criterion": c, "counts": counts} for c, counts in found.items()]


# ------------------------------------------------------------------------------------ adverse impact


def adverse_impact(session: Session, scope: Scope) -> dict[str, Any]:
    """Selection rates by self-identified category at each stage (selected: moved on) and for the
    final decision (applicants: decided; selected: approved), impact ratios against the category
    with the highest rate, flagged below 0.80, Fisher's exact p against it. `unknown` counts the
    applications in scope that gave no category (or declined both)."""
    t, si = StageTransition, SelfIdentification
    leaving: Any = (
        select(
            col(t.from_stage).label("stage"),
            col(t.application_id).label("application_id"),
            func.max(case((col(t.to_status).not_in(NOT_MOVED_ON), 1), else_=0)).label("selected"),
        )
        .where(col(t.from_stage) != col(t.to_stage), col(t.from_stage) != "decision", *scope.on_transitions())
        .group_by(col(t.from_stage), col(t.application_id))
    )
    m = _milestones(scope)
    decided = select(
        literal("decision").label("stage"),
        m.c.application_id,
        case((m.c.approved.is_not(None), 1), else_=0).label("selected"),
    ).where(m.c.decided.is_not(None))
    outcomes = leaving.union_all(decided).subquery()
    counted = session.execute(
        select(
            outcomes.c.stage,
            func.coalesce(si.sex, "declined"),
            func.coalesce(si.race_ethnicity, "declined"),
            func.count(),
            func.sum(outcomes.c.selected),
        )
        .select_from(outcomes)
        .outerjoin(si, col(si.application_id) == outcomes.c.application_id)
        .group_by(outcomes.c.stage, col(si.sex), col(si.race_ethnicity))
    ).all()
    return shapes.impact(
        ((stage, sex, race, int(n), int(selected or 0)) for stage, sex, race, n, selected in counted),
        _pipelines(session, scope),
        _unknown(session, scope),
    )


def _unknown(session: Session, scope: Scope) -> dict[str, int]:
    """Applications in scope without a category: no form, or "declined" (per dimension, and both)."""
    a, si = Application, SelfIdentification
    no_sex = or_(col(si.sex).is_(None), col(si.sex) == "declined")
    no_race = or_(col(si.race_ethnicity).is_(None), col(si.race_ethnicity) == "declined")
    row = session.execute(
        select(
            func.count(case((no_sex, 1))),
            func.count(case((no_race, 1))),
            func.count(case((and_(no_sex, no_race), 1))),
        )
        .select_from(a)
        .outerjoin(si, col(si.application_id) == col(a.id))
        .where(*scope.on_applications())
    ).one()
    return {"sex": int(row[0]), "race_ethnicity": int(row[1]), "both": int(row[2])}


METRICS = {
    "funnel": funnel,
    "stages": stages,
    "questions": questions,
    "reminders": reminders,
    "reviewers": reviewers,
    "agreement": agreement,
    "adverse-impact": adverse_impact,
}
