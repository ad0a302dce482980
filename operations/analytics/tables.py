"""Each metric as one flat table (headers, rows of text): the CSV downloads, the dashboard's tables
and the CLI's rich tables all come from here, so they show the same numbers. Categories of fewer
than 5 people show "fewer than 5" instead of their counts and rates (no re-identification)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from operations.analytics.shapes import SMALL

FEWER = f"fewer than {SMALL}"
Table = tuple[list[str], list[list[str]]]


def number(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{round(value, digits):g}" if abs(value) < 1e15 else str(value)
    return str(value)


def hours(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 3600:.1f}"


def funnel(result: dict[str, Any]) -> Table:
    rows = [["count", name, number(value)] for name, value in result["counts"].items()]
    rows += [["rate", name, number(value)] for name, value in result["rates"].items()]
    rows += [["pass_through", s["stage_id"], number(s["rate"])] for s in result["pass_through"]]
    return ["measure", "name", "value"], rows


def stages(result: dict[str, Any]) -> Table:
    headers = ["stage_id", "entered", "moved_on", "ended_here", "still_in", "pass_through"]
    headers += ["completed_stays", "median_hours", "p90_hours"]
    rows = [
        [
            s["stage_id"],
            *(number(s[k]) for k in ("entered", "moved_on", "ended_here", "still_in", "pass_through", "n")),
            hours(s["median_seconds"]),
            hours(s["p90_seconds"]),
        ]
        for s in result["stages"]
    ]
    for name in ("time_to_complete", "time_to_decision"):
        found = result[name]
        rows.append(
            [
                name,
                "",
                "",
                "",
                "",
                "",
                number(found["n"]),
                hours(found["median_seconds"]),
                hours(found["p90_seconds"]),
            ]
        )
    return headers, rows


def questions(result: dict[str, Any]) -> Table:
    headers = ["question_id", "stage_id", "answered", "answered_share", "last_answered_by_dropouts"]
    rows = [
        [
            q["question_id"],
            q["stage_id"],
            number(q["answered"]),
            number(q["answered_share"]),
            number(q["last_answered_by_dropouts"]),
        ]
        for q in result["questions"]
    ]
    rows.append(
        ["(dropped out before answering)", "", "", "", number(result["dropped_out_before_answering"])]
    )
    return headers, rows


def reminders(result: dict[str, Any]) -> Table:
    headers = ["window", "label", "reached", "submitted", "share"]
    rows = [
        [number(w["window"]), w["label"], number(w["reached"]), number(w["submitted"]), number(w["share"])]
        for w in result["windows"]
    ]
    return headers, rows


def reviewers(result: dict[str, Any]) -> Table:
    keys = ("assigned", "done", "on_time", "overdue", "reassigned", "open", "on_time_share")
    headers = ["reviewer", *keys, "median_hours_to_score"]
    rows = [
        [r["reviewer"], *(number(r[k]) for k in keys), hours(r["median_seconds_to_score"])]
        for r in result["reviewers"]
    ]
    return headers, rows


def agreement(result: dict[str, Any]) -> Table:
    headers = [
        "stage_id",
        "measure_of",
        "alpha_interval",
        "alpha_ordinal",
        "icc2_1",
        "icc2_k",
        "applications",
    ]
    rows: list[list[str]] = []
    for s in result["stages"]:
        rows.append(
            [
                s["stage_id"],
                "weighted score",
                number(s["alpha_interval"]),
                number(s["alpha_ordinal"]),
                number(s["icc2_1"]),
                number(s["icc2_k"]),
                number(s["applications"]),
            ]
        )
        rows += [
            [
                s["stage_id"],
                f"criterion {c['id']}",
                number(c["alpha_interval"]),
                number(c["alpha_ordinal"]),
                "",
                "",
                "",
            ]
            for c in s["criteria"]
        ]
    return headers, rows


def adverse_impact(result: dict[str, Any]) -> Table:
    headers = [
        "stage",
        "dimension",
        "category",
        "applicants",
        "selected",
        "selection_rate",
        "impact_ratio",
        "flagged",
        "fisher_p",
    ]
    rows: list[list[str]] = []
    for r in result["rows"]:
        if r["applicants"] < SMALL:
            rows.append([r["stage"], r["dimension"], r["category"], FEWER, FEWER, "", "", "", ""])
            continue
        rows.append(
            [
                r["stage"],
                r["dimension"],
                r["category"],
                number(r["applicants"]),
                number(r["selected"]),
                number(r["selection_rate"]),
                number(r["impact_ratio"]),
                number(r["flagged"]),
                number(r["fisher_p"], 6),
            ]
        )
    rows += [
        [t["stage"], "all", "total", number(t["applicants"]), number(t["selected"]), "", "", "", ""]
        for t in result["totals"]
    ]
    rows.append(["", "all", "unknown", number(result["unknown"]), "", "", "", "", ""])
    return headers, rows


TABLES: dict[str, Callable[[dict[str, Any]], Table]] = {
    "funnel": funnel,
    "stages": stages,
    "questions": questions,
    "reminders": reminders,
    "reviewers": reviewers,
    "agreement": agreement,
    "adverse-impact": adverse_impact,
}


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table[0])
    for row in table[1]:
        # a cell starting with = + - @ would run as a formula in a spreadsheet: quote it as text
        writer.writerow(
            [f"'{cell}" if cell[:1] in ("=", "+", "-", "@") and not _numeric(cell) else cell for cell in row]
        )
    return out.getvalue()


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
