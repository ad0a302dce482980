"""The analytics dashboard (/staff/analytics): filters, then every metric as a chart drawn on the
server (SVG, readable without JavaScript, no inline script or style under the CSP) with its table
beside it for screen readers, and each table's CSV from the API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from api.deps import Principal, SessionDep, SettingsDep, StaffDep
from api.errors import ApiError
from api.pages import charts
from api.pages.render import staff_page
from api.services import analytics
from api.services.access import visible_jobs
from operations.analytics.shapes import SMALL
from operations.analytics.tables import TABLES
from pipelines.registry import PIPELINES

router = APIRouter(prefix="/staff", tags=["staff pages"], include_in_schema=False)
METRICS = ("funnel", "stages", "questions", "reminders", "reviewers", "agreement", "adverse-impact")


def _charts(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    funnel, stages, questions = results["funnel"], results["stages"], results["questions"]
    reminders, reviewers, agreement = results["reminders"], results["reviewers"], results["agreement"]
    impact = results["adverse-impact"]
    drawn: dict[str, Any] = {
        "funnel": charts.bar_chart(
            "chart-funnel", "Funnel", list(funnel["counts"].items()), unit="applications"
        ),
        "stages": charts.grouped_bar_chart(
            "chart-stages",
            "Time in stage",
            [s["stage_id"] for s in stages["stages"]],
            [
                ("median", [s["median_seconds"] for s in stages["stages"]]),
                ("p90", [s["p90_seconds"] for s in stages["stages"]]),
            ],
            value_format=charts.hours,
        ),
        "questions": charts.bar_chart(
            "chart-questions",
            "Share of starters who answered each question",
            [(q["question_id"], q["answered_share"]) for q in questions["questions"]],
            value_format=charts.percent,
        ),
        "reminders": charts.bar_chart(
            "chart-reminders",
            "Submissions in each reminder's window",
            [(w["label"], float(w["submitted"])) for w in reminders["windows"]],
            unit="submitted",
        ),
        "reviewers": charts.grouped_bar_chart(
            "chart-reviewers",
            "Reviewer load",
            [r["reviewer"] for r in reviewers["reviewers"]],
            [
                ("done", [float(r["done"]) for r in reviewers["reviewers"]]),
                ("overdue", [float(r["overdue"]) for r in reviewers["reviewers"]]),
            ],
        ),
        "agreement": charts.bar_chart(
            "chart-agreement",
            "Krippendorff's alpha (interval) on the weighted score",
            [(s["stage_id"], s["alpha_interval"]) for s in agreement["stages"]],
            value_format=lambda v: f"{v:.2f}",
        ),
        "impact": charts.bar_chart(
            "chart-impact",
            "Impact ratio at the final decision (flagged below 0.80)",
            [
                (f"{r['dimension'].replace('_', ' ')}: {r['category']}", r["impact_ratio"])
                for r in impact["rows"]
                if r["stage"] == "decision"
                and r["dimension"] != "sex_race_ethnicity"
                and r["applicants"] >= SMALL
            ],
            value_format=lambda v: f"{v:.2f}",
            highlight=lambda _label, value: value < 0.8,
        ),
        "distributions": [
            charts.histogram(
                f"chart-scores-{s['stage_id']}-{d['criterion']}".replace("_", "-"),
                f"Scores on {d['criterion'].replace('_', ' ')} ({s['stage_id']})",
                list(d["counts"].items()),
            )
            for s in agreement["stages"]
            for d in s["distributions"]
        ],
    }
    return drawn


def _results(session: Session, staff: Principal, filters: dict[str, str | None]) -> dict[str, dict[str, Any]]:
    results = {}
    for metric in METRICS:
        scope = analytics.scope_for(
            session,
            staff,
            metric,
            job_id=filters["job_id"],
            pipeline=filters["pipeline"],
            start=filters["from"],
            end=filters["to"],
        )
        results[metric] = analytics.compute(session, metric, scope)
    return results


@router.get("/analytics", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep) -> HTMLResponse:
    params = request.query_params
    filters = {name: (params.get(name) or None) for name in ("job_id", "pipeline", "from", "to")}
    query = urlencode({k: v for k, v in filters.items() if v})
    context: dict[str, Any] = {
        "filters": filters,
        "jobs": visible_jobs(session, staff),
        "pipelines": sorted(PIPELINES),
        "csv": {m: f"/api/v1/analytics/{m}?{query + '&' if query else ''}format=csv" for m in METRICS},
        "small": SMALL,
    }
    try:
        results = _results(session, staff, filters)
    except ApiError as error:
        return staff_page(
            request,
            settings,
            staff,
            "analytics.html",
            status_code=error.status_code,
            error=error.detail,
            results=None,
            **context,
        )
    tables = {m: TABLES[m](results[m]) for m in METRICS}
    return staff_page(
        request,
        settings,
        staff,
        "analytics.html",
        results=results,
        tables=tables,
        charts=_charts(results),
        **context,
    )
