"""Every metric against a population with known answers (tests/support/analytics.py), on SQLite and
on PostgreSQL: the same SQL must give the same numbers on both."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from activities import rollups
from offhours.db import make_engine
from offhours.migrate import upgrade
from offhours.models import AnalyticsCounter, StageTransition
from offhours.settings import Settings
from operations.analytics import counted, queries
from operations.analytics.queries import Scope
from operations.analytics.statistics import icc2, krippendorff_alpha
from tests.support.analytics import RATINGS, T0, Population, at, seed_decisions, seed_journeys
from tests.support.postgres import fresh_schema, throwaway_postgres, unavailable_reason
from tests.support.stack import free_port

H = 3600.0


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str | None]:
    if unavailable_reason() is not None:
        yield None
        return
    with throwaway_postgres(free_port()) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path: object, postgres_server: str | None
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/analytics.db"
        upgrade(url)
    else:
        if postgres_server is None:
            pytest.skip(unavailable_reason() or "")
        url = fresh_schema(postgres_server)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def seeded(database: Engine, settings: Settings) -> tuple[Engine, Population, str, str]:
    population = Population(database, settings)
    journeys = population.job("Support engineer")
    decisions = population.job("Data analyst")
    seed_journeys(population, journeys)
    seed_decisions(population, decisions)
    return database, population, journeys, decisions


def test_transitions_are_appended_once_per_change(seeded: tuple[Engine, Population, str, str]) -> None:
    engine, population, _, _ = seeded
    with Session(engine) as session:
        rows = session.exec(
            select(StageTransition)
            .where(StageTransition.application_id == population.ids["A1"])
            .order_by(StageTransition.seq)  # type: ignore[arg-type]
        ).all()
    # each status was recorded twice (a retried activity): one row each
    assert [(r.seq, r.to_stage, r.to_status) for r in rows] == [
        (1, "invite", "invited"),
        (2, "invite", "in_progress"),
        (3, "interview", "submitted"),
        (4, "review", "in_review"),
        (5, "decision", "awaiting_decision"),
        (6, "closed", "approved"),
    ]
    assert [r.stay_seconds for r in rows] == [None, None, 10 * H, 1 * H, 24 * H, 24 * H]
    assert rows[-1].since_invite_seconds == 59 * H


def test_funnel(seeded: tuple[Engine, Population, str, str]) -> None:
    engine, _, journeys, _ = seeded
    with Session(engine) as session:
        result = queries.funnel(session, Scope(job_ids=(journeys,)))
    assert result["counts"] == {
        "invited": 10,
        "opened": 8,
        "started": 8,
        "submitted": 6,
        "reviewed": 5,
        "decided": 5,
        "approved": 3,
        "rejected": 2,
        "expired": 2,
        "withdrawn": 1,
    }
    assert result["rates"]["taken"] == 0.8
    assert result["rates"]["completion"] == 0.75
    assert result["rates"]["approval"] == 0.6
    passing = {s["stage_id"]: (s["entered"], s["moved_on"]) for s in result["pass_through"]}
    assert passing == {"invite": (10, 6), "interview": (6, 6), "review": (6, 5), "decision": (5, 3)}


def test_stages_and_times(seeded: tuple[Engine, Population, str, str]) -> None:
    engine, _, journeys, _ = seeded
    with Session(engine) as session:
        result = queries.stages(session, Scope(job_ids=(journeys,)))
    by_id = {s["stage_id"]: s for s in result["stages"]}
    assert [s["stage_id"] for s in result["stages"]] == ["invite", "interview", "review", "decision"]
    invite = by_id["invite"]
    assert (invite["entered"], invite["moved_on"], invite["ended_here"], invite["still_in"]) == (10, 6, 3, 1)
    # stays in the invite stage: 5 h (A9), 10..60 h (A1..A6), 168 h twice (A7, A8): nearest rank
    assert (invite["n"], invite["median_seconds"], invite["p90_seconds"]) == (9, 40 * H, 168 * H)
    assert (by_id["interview"]["median_seconds"], by_id["review"]["median_seconds"]) == (1 * H, 24 * H)
    assert by_id["review"]["still_in"] == 1
    assert by_id["decision"]["pass_through"] == 0.6
    assert result["time_to_complete"] == {"n": 6, "median_seconds": 30 * H, "p90_seconds": 60 * H}
    assert result["time_to_decision"] == {"n": 5, "median_seconds": 79 * H, "p90_seconds": 99 * H}


def test_questions(seeded: tuple[Engine, Population, str, str]) -> None:
    engine, _, journeys, _ = seeded
    with Session(engine) as session:
        result = queries.questions(session, Scope(job_ids=(journeys,)))
    assert (result["started"], result["dropped_out"], result["dropped_out_before_answering"]) == (8, 2, 0)
    rows = {q["question_id"]: q for q in result["questions"]}
    assert [q["question_id"] for q in result["questions"]] == ["motivation", "experience", "cv"]
    assert {q: r["answered"] for q, r in rows.items()} == {"motivation": 8, "experience": 7, "cv": 6}
    assert rows["experience"]["answered_share"] == 7 / 8
    assert {q: r["last_answered_by_dropouts"] for q, r in rows.items()} == {
        "motivation": 1,
        "experience": 1,
        "cv": 0,
    }


def test_reminders(seeded: tuple[Engine, Population, str, str]) -> None:
    engine, _, journeys, _ = seeded
    with Session(engine) as session:
        result = queries.reminders(session, Scope(job_ids=(journeys,)))
    assert [(w["window"], w["reached"], w["submitted"]) for w in result["windows"]] == [
        (0, 10, 1),
        (1, 8, 1),
        (2, 6, 4),
    ]
    assert result["windows"][2]["share"] == 4 / 6
    assert result["not_submitted"] == 4


def test_reviewers(seeded: tuple[Engine, Population, str, str]) -> None:
    engine, _, journeys, _ = seeded
    with Session(engine) as session:
        result = queries.reviewers(session, Scope(job_ids=(journeys,), now=T0 + timedelta(days=30)))
        own = queries.reviewers(
            session, Scope(job_ids=(journeys,), reviewer="lee", now=T0 + timedelta(days=30))
        )
    rows = {r["reviewer"]: r for r in result["reviewers"]}
    ana, lee = rows["ana"], rows["lee"]
    assert (ana["assigned"], ana["done"], ana["on_time"], ana["overdue"], ana["reassigned"], ana["open"]) == (
        6,
        5,
        5,
        0,
        1,
        0,
    )
    assert (lee["assigned"], lee["done"], lee["on_time"], lee["overdue"], lee["reassigned"], lee["open"]) == (
        6,
        5,
        4,
        2,
        0,
        1,
    )
    assert ana["median_seconds_to_score"] == pytest.approx(12 * H, abs=1)
    assert lee["median_seconds_to_score"] == pytest.approx(36 * H, abs=1)
    assert [r["reviewer"] for r in own["reviewers"]] == ["lee"]


def test_agreement_matches_the_reference_implementations(seeded: tuple[Engine, Population, str, str]) -> None:
    engine, _, journeys, _ = seeded
    with Session(engine) as session:
        result = queries.agreement(session, Scope(job_ids=(journeys,)))
    [stage] = result["stages"]
    assert stage["stage_id"] == "review"
    assert stage["applications"] == 5
    criteria = ("communication", "relevant_experience", "motivation")
    weighted = {
        name: {"ana": sum(a.values()) / 3, "lee": sum(b.values()) / 3} for name, (a, b) in RATINGS.items()
    }
    assert stage["alpha_interval"] == pytest.approx(krippendorff_alpha(weighted, "interval"))
    assert stage["alpha_ordinal"] == pytest.approx(krippendorff_alpha(weighted, "ordinal"))
    for row in stage["criteria"]:
        units = {name: {"ana": a[row["id"]], "lee": b[row["id"]]} for name, (a, b) in RATINGS.items()}
        assert row["alpha_interval"] == pytest.approx(krippendorff_alpha(units, "interval"))
        assert row["alpha_ordinal"] == pytest.approx(krippendorff_alpha(units, "ordinal"))
    assert [row["id"] for row in stage["criteria"]] == list(criteria)
    reference = icc2([[w["ana"], w["lee"]] for w in weighted.values()])
    assert stage["icc2_1"] == pytest.approx(reference.icc2_1)
    assert stage["icc2_k"] == pytest.approx(reference.icc2_k)
    assert (stage["icc_applications"], stage["icc_reviewers"]) == (5, 2)
    assert stage["alpha_interval"] > 0.7  # these reviewers broadly agree
    communication = next(d for d in stage["distributions"] if d["criterion"] == "communication")
    assert communication["counts"] == {"1": 1, "2": 4, "3": 1, "4": 3, "5": 1}


def _fisher_two_sided(a: int, b: int, c: int, d: int) -> float:
    """By hand from the hypergeometric distribution: the tables with the same margins at most as
    likely as the observed one."""
    row, column, total = a + b, a + c, a + b + c + d

    def p(x: int) -> float:
        return math.comb(column, x) * math.comb(total - column, row - x) / math.comb(total, row)

    observed = p(a)
    return sum(
        p(x)
        for x in range(max(0, row + column - total), min(row, column) + 1)
        if p(x) <= observed * (1 + 1e-7)
    )


def test_adverse_impact(seeded: tuple[Engine, Population, str, str]) -> None:
    engine, _, _, decisions = seeded
    with Session(engine) as session:
        result = queries.adverse_impact(session, Scope(job_ids=(decisions,)))
    assert result["unknown"] == 0  # the 3 who declined their sex gave their race
    assert result["unknown_by_dimension"] == {"sex": 3, "race_ethnicity": 0}
    rows = {(r["stage"], r["dimension"], r["category"]): r for r in result["rows"]}
    women, men = rows["decision", "sex", "female"], rows["decision", "sex", "male"]
    assert (women["applicants"], women["selected"], women["selection_rate"]) == (10, 3, 0.3)
    assert (men["applicants"], men["selected"], men["impact_ratio"]) == (10, 6, 1.0)
    assert women["impact_ratio"] == pytest.approx(0.5)
    assert women["flagged"]
    assert not men["flagged"]
    assert women["fisher_p"] == pytest.approx(_fisher_two_sided(3, 7, 6, 4))
    assert men["fisher_p"] is None
    asian = rows["decision", "race_ethnicity", "asian"]
    assert (asian["applicants"], asian["selected"], asian["suppressed"]) == (4, 3, True)
    white = rows["decision", "race_ethnicity", "white"]
    assert (white["applicants"], white["selected"], white["suppressed"]) == (19, 7, False)
    # the reference is never a category of fewer than 5: White is, and Asian's ratio is against it
    assert white["impact_ratio"] == 1.0
    assert rows["decision", "sex_race_ethnicity", "female/asian"]["applicants"] == 4
    decision_total = next(t for t in result["totals"] if t["stage"] == "decision")
    assert decision_total == {"stage": "decision", "applicants": 23, "selected": 10}
    # everyone moved on from the invite stage: no one flagged there
    assert all(not r["flagged"] for r in result["rows"] if r["stage"] == "invite")


def test_scope_filters_by_job_pipeline_and_dates(seeded: tuple[Engine, Population, str, str]) -> None:
    engine, _, _, decisions = seeded
    with Session(engine) as session:
        both = queries.funnel(session, Scope())["counts"]["invited"]
        one = queries.funnel(session, Scope(job_ids=(decisions,)))["counts"]["invited"]
        nothing = queries.funnel(session, Scope(job_ids=()))["counts"]["invited"]
        other_pipeline = queries.funnel(session, Scope(pipeline="internship"))["counts"]["invited"]
        # invited at T0 + 0..9 h (A1..A10) and T0 + 0..22 h (D0..D22): the first 5 hours
        early = queries.funnel(session, Scope(start=T0, end=at(5)))["counts"]["invited"]
    assert (both, one, nothing, other_pipeline, early) == (33, 23, 0, 0, 10)


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_the_rollups_agree_with_the_raw_tables(seeded: tuple[Engine, Population, str, str]) -> None:
    """Two implementations of every metric: counters kept by the writes, and SQL over the raw rows."""
    engine, _, journeys, decisions = seeded
    scopes = [
        Scope(now=T0 + timedelta(days=30)),
        Scope(job_ids=(journeys,), now=T0 + timedelta(days=30)),
        Scope(job_ids=(decisions, journeys), now=T0 + timedelta(days=30)),
        Scope(job_ids=(), now=T0 + timedelta(days=30)),
        Scope(job_ids=(journeys,), reviewer="lee", now=T0 + timedelta(days=30)),
        Scope(
            start=T0.replace(hour=0), end=T0.replace(hour=0) + timedelta(days=1), now=T0 + timedelta(days=30)
        ),
    ]
    with Session(engine) as session:
        assert counted.answers(session, scopes[0])
        assert not counted.answers(session, Scope(start=at(5)))  # not a whole day: the raw tables
        for scope in scopes:
            for name, metric in counted.METRICS.items():
                fast, raw = metric(session, scope), queries.METRICS[name](session, scope)
                assert _close(fast, raw), (name, scope, fast, raw)


def test_a_rebuild_gives_the_counters_the_writes_kept(seeded: tuple[Engine, Population, str, str]) -> None:
    engine, _, _, _ = seeded

    def counters() -> dict[tuple[str, str, str, str, str], float]:
        with Session(engine) as session:
            return {
                (c.job_id, c.pipeline_name, c.day, c.metric, c.key): round(c.value, 9)
                for c in session.exec(select(AnalyticsCounter))
                if abs(c.value) > 1e-9
            }

    kept = counters()
    assert len(kept) > 100
    with Session(engine) as session:
        assert rollups.rebuild(session) == 33
        session.commit()
    assert counters() == kept
