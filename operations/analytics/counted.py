"""The metrics from the rollups (activities/rollups.py): counters summed over the jobs, pipeline and
invitation days in scope, and percentiles read by position from ordered indexes (nearest rank: the
row at offset rank - 1), so a call reads a few hundred counters and a few index ranges whatever the
number of applications. The same definitions as operations/analytics/queries.py, which computes
them from the raw tables (and is used where the rollups cannot answer: a date range that does not
start and end at midnight UTC, or a database whose counters are not built yet); the tests check the
two agree."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, time
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session, col

from activities.rollups import ALL_DAYS, built
from offhours.models import AnalyticsCounter, ReviewAssignment, StageTransition
from operations.analytics import queries, shapes
from operations.analytics.queries import (
    FUNNEL,
    Scope,
    _still_waiting_past,
)
from operations.analytics.statistics import alpha_from_coincidences, icc2_from_sums
from pipelines.base import Pipeline
from pipelines.registry import PIPELINES
from pipelines.stages import Review


def answers(session: Session, scope: Scope) -> bool:
    """Whether the rollups can answer this scope exactly."""
    whole_days = all(w is None or w.astimezone(UTC).time() == time() for w in (scope.start, scope.end))
    return whole_days and built(session)


class Counters:
    """The counters of one scope, read once per metric family."""

    def __init__(self, session: Session, scope: Scope, *metrics: str) -> None:
        c = AnalyticsCounter
        where: list[ColumnElement[bool]] = [col(c.metric).in_(metrics)]
        if scope.start is None and scope.end is None:
            where.append(col(c.day) == ALL_DAYS)
        else:
            where.append(col(c.day) != ALL_DAYS)
            if scope.start is not None:
                where.append(col(c.day) >= scope.start.date().isoformat())
            if scope.end is not None:
                where.append(col(c.day) < scope.end.date().isoformat())
        if scope.job_ids is not None:
            where.append(col(c.job_id).in_(scope.job_ids))
        if scope.pipeline is not None:
            where.append(col(c.pipeline_name) == scope.pipeline)
        self.values: dict[str, dict[str, float]] = defaultdict(dict)
        for metric, key, value in session.execute(
            select(col(c.metric), col(c.key), func.sum(col(c.value)))
            .where(*where)
            .group_by(col(c.metric), col(c.key))
        ):
            if abs(value) > 1e-9:
                self.values[metric][key] = float(value)
        self.pipelines = self._pipelines(session, where) if scope.pipeline is None else [scope.pipeline]

    @staticmethod
    def _pipelines(session: Session, where: list[ColumnElement[bool]]) -> list[str]:
        c = AnalyticsCounter
        found = session.execute(
            select(col(c.pipeline_name)).where(*where[1:], col(c.metric) == "reached").distinct()
        ).scalars()
        return sorted(found)

    def n(self, metric: str, key: str = "") -> int:
        return round(self.values.get(metric, {}).get(key, 0.0))

    def of(self, metric: str) -> dict[str, float]:
        return self.values.get(metric, {})

    def definitions(self) -> list[Pipeline]:
        return [PIPELINES[name] for name in self.pipelines if name in PIPELINES]


# ------------------------------------------------------------------------------------ percentiles


def _by_rank(session: Session, value: Any, where: list[ColumnElement[bool]]) -> dict[str, Any]:
    """n, median and p90 (nearest rank) of `value` over the rows `where`, read by position in order."""
    n = int(session.execute(select(func.count()).where(*where)).scalar_one())
    if n == 0:
        return {"n": 0, "median_seconds": None, "p90_seconds": None}

    def at_rank(rank: int) -> float:
        query = select(value).where(*where).order_by(value).offset(rank - 1).limit(1)
        return float(session.execute(query).scalar_one())

    return {"n": n, "median_seconds": at_rank((n + 1) // 2), "p90_seconds": at_rank((9 * n + 9) // 10)}


# ------------------------------------------------------------------------------------ metrics


def funnel(session: Session, scope: Scope) -> dict[str, Any]:
    c = Counters(session, scope, "reached", "opened", "reviewed", "entered", "moved_on")
    counts = dict.fromkeys(FUNNEL, 0)
    for name in (
        "invited",
        "started",
        "submitted",
        "decided",
        "approved",
        "rejected",
        "expired",
        "withdrawn",
    ):
        counts[name] = c.n("reached", "in_progress" if name == "started" else name)
    counts["opened"], counts["reviewed"] = c.n("opened"), c.n("reviewed")
    rates = shapes.rates(counts)
    passing = shapes.pass_through(_stage_counts(Counters(session, scope, "entered", "left", "moved_on")))
    return {"counts": counts, "rates": rates, "pass_through": passing}


def _stage_counts(c: Counters) -> list[dict[str, Any]]:
    return shapes.stage_rows(
        c.definitions(),
        {k: round(v) for k, v in c.of("entered").items()},
        {k: round(v) for k, v in c.of("left").items()},
        {k: round(v) for k, v in c.of("moved_on").items()},
    )


def stages(session: Session, scope: Scope) -> dict[str, Any]:
    c = Counters(session, scope, "entered", "left", "moved_on", "response")
    t = StageTransition
    rows = []
    for s in _stage_counts(c):
        where = [
            col(t.from_stage) == s["stage_id"],
            col(t.stay_seconds).is_not(None),
            *scope.on_transitions(),
        ]
        rows.append({**s, **_by_rank(session, col(t.stay_seconds), where)})
    overall = {
        point: _by_rank(
            session, col(t.since_invite_seconds), [col(t.milestone) == point, *scope.on_transitions()]
        )
        for point in ("submitted", "decided")
    }
    promises = {p.name: p.check_in.promised_response for p in c.definitions() if p.check_in}
    kept, broken = c.n("response", "kept"), c.n("response", "broken")
    waiting = _still_waiting_past(session, scope, promises) if promises else 0
    applications = kept + broken + waiting
    return {
        "stages": rows,
        "time_to_complete": overall["submitted"],
        "time_to_decision": overall["decided"],
        "response_time": {
            "applications": applications,
            "kept": kept,
            "share": shapes.share(kept, applications),
        },
    }


def questions(session: Session, scope: Scope) -> dict[str, Any]:
    c = Counters(session, scope, "reached", "answered", "dropped", "stopped")
    started = c.n("reached", "in_progress")
    answered = {k: round(v) for k, v in c.of("answered").items()}
    stopped = {k: round(v) for k, v in c.of("stopped").items()}
    rows = shapes.question_rows(c.definitions(), started, answered, stopped)
    return {
        "started": started,
        "dropped_out": c.n("dropped"),
        "dropped_out_before_answering": c.n("stopped", ""),
        "questions": rows,
    }


def reminders(session: Session, scope: Scope) -> dict[str, Any]:
    c = Counters(session, scope, "reminders")
    counted = []
    for key, n in c.of("reminders").items():
        window, done = key.split("|")
        counted.append((int(window), int(done), round(n)))
    return shapes.reminder_windows(counted)


def reviewers(session: Session, scope: Scope) -> dict[str, Any]:
    if scope.pipeline is not None or scope.start is not None or scope.end is not None:
        return queries.reviewers(session, scope)  # assignments carry the job, not the pipeline or date
    names = ("assigned", "done", "on_time", "late", "reassigned", "open")
    c = Counters(session, scope, *(f"reviewer_{n}" for n in names))
    people = sorted({r for n in names for r in c.of(f"reviewer_{n}")})
    if scope.reviewer is not None:
        people = [p for p in people if p == scope.reviewer]
    r = ReviewAssignment
    jobs = [col(r.job_id).in_(scope.job_ids)] if scope.job_ids is not None else []
    late_open = dict(
        session.execute(
            select(col(r.reviewer), func.count())
            .where(col(r.status) == "assigned", col(r.due_at) < scope.now, *jobs)
            .group_by(col(r.reviewer))
        ).all()
    )
    out = []
    for person in people:
        done = c.n("reviewer_done", person)
        on_time = c.n("reviewer_on_time", person)
        timed = [
            col(r.reviewer) == person,
            col(r.status) == "completed",
            col(r.seconds_to_score).is_not(None),
            *jobs,
        ]
        out.append(
            {
                "reviewer": person,
                "assigned": c.n("reviewer_assigned", person),
                "done": done,
                "on_time": on_time,
                "overdue": c.n("reviewer_late", person) + int(late_open.get(person, 0)),
                "reassigned": c.n("reviewer_reassigned", person),
                "open": c.n("reviewer_open", person),
                "on_time_share": shapes.share(on_time, done),
                "median_seconds_to_score": _by_rank(session, col(r.seconds_to_score), timed)[
                    "median_seconds"
                ],
            }
        )
    return {"reviewers": out}


def agreement(session: Session, scope: Scope) -> dict[str, Any]:
    c = Counters(session, scope, "coincidence", "units", "score", "icc_n", "icc_s", "icc_q", "icc_r", "icc_c")
    matrices: dict[str, dict[tuple[float, float], float]] = defaultdict(dict)
    for key, o in c.of("coincidence").items():
        stage_id, criterion, x, y = key.rsplit("|", 3)
        matrices[f"{stage_id}|{criterion}"][float(x), float(y)] = o
    out: list[dict[str, Any]] = []
    for pipeline in c.definitions():
        for stage in pipeline.stages:
            if not isinstance(stage, Review) or any(s["stage_id"] == stage.id for s in out):
                continue
            weighted = matrices.get(f"{stage.id}|*", {})
            icc, icc_n, icc_k = _icc(c, stage.id)
            out.append(
                {
                    "stage_id": stage.id,
                    "applications": c.n("units", f"{stage.id}|*"),
                    "alpha_interval": alpha_from_coincidences(weighted, "interval"),
                    "alpha_ordinal": alpha_from_coincidences(weighted, "ordinal"),
                    "icc2_1": icc[0],
                    "icc2_k": icc[1],
                    "icc_applications": icc_n,
                    "icc_reviewers": icc_k,
                    "criteria": [
                        {
                            "id": cr.id,
                            "title": cr.title,
                            "alpha_interval": alpha_from_coincidences(
                                matrices.get(f"{stage.id}|{cr.id}", {}), "interval"
                            ),
                            "alpha_ordinal": alpha_from_coincidences(
                                matrices.get(f"{stage.id}|{cr.id}", {}), "ordinal"
                            ),
                        }
                        for cr in stage.criteria
                    ],
                    "distributions": _distributions(c, stage.id, [cr.id for cr in stage.criteria]),
                }
            )
    return {"stages": out}


def _icc(c: Counters, stage_id: str) -> tuple[tuple[float | None, float | None], int, int]:
    panels = {key.split("|", 1)[1]: n for key, n in c.of("icc_n").items() if key.split("|", 1)[0] == stage_id}
    panels = {p: n for p, n in panels.items() if round(n) > 0}
    if not panels:
        return (None, None), 0, 0
    panel = min(panels, key=lambda p: (-round(panels[p]), -len(p.split(",")), p))
    n, k = round(panels[panel]), len(panel.split(","))
    if n < 2:
        return (None, None), n, k
    key = f"{stage_id}|{panel}"
    columns = sum(v * v for kk, v in c.of("icc_c").items() if kk.rsplit("|", 1)[0] == key)
    result = icc2_from_sums(
        n,
        k,
        total=c.of("icc_s").get(key, 0.0),
        squares=c.of("icc_q").get(key, 0.0),
        row_squares=c.of("icc_r").get(key, 0.0),
        column_squares=columns,
    )
    return (result.icc2_1, result.icc2_k), n, k


def _distributions(c: Counters, stage_id: str, criteria: list[str]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, int]] = {cr: {str(v): 0 for v in range(1, 6)} for cr in criteria}
    for key, n in c.of("score").items():
        stage, criterion, rating = key.split("|")
        if stage == stage_id:
            found.setdefault(criterion, {})[rating] = round(n)
    return [{"criterion": cr, "counts": counts} for cr, counts in found.items()]


def adverse_impact(session: Session, scope: Scope) -> dict[str, Any]:
    c = Counters(session, scope, "impact", "identified")
    counted = []
    for key, value in c.of("impact").items():
        stage, selected, sex, race = key.split("|")
        counted.append((stage, sex, race, round(value), round(value) if selected == "1" else 0))
    unknown = {"sex": 0, "race_ethnicity": 0, "both": 0}
    for key, value in c.of("identified").items():
        sex, race = key.split("|")
        unknown["sex"] += round(value) if sex == "declined" else 0
        unknown["race_ethnicity"] += round(value) if race == "declined" else 0
        unknown["both"] += round(value) if sex == race == "declined" else 0
    return shapes.impact(counted, c.definitions(), unknown)


METRICS = {
    "funnel": funnel,
    "stages": stages,
    "questions": questions,
    "reminders": reminders,
    "reviewers": reviewers,
    "agreement": agreement,
    "adverse-impact": adverse_impact,
}


def compute(session: Session, metric: str, scope: Scope) -> dict[str, Any]:
    """The metric from the rollups where they answer the scope exactly, else from the raw tables."""
    if answers(session, scope):
        return METRICS[metric](session, scope)
    return queries.METRICS[metric](session, scope)
