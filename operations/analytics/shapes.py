"""What the two ways of computing the metrics share once they have their counts: the raw-table
queries (queries.py) and the rollups (counted.py) both hand their numbers to these functions, so a
metric's shape and its derived rates are defined once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from operations.analytics.statistics import GroupCount
from operations.analytics.statistics import adverse_impact as impact_rows
from pipelines.base import Pipeline
from pipelines.stages import Interview

SMALL = 5  # categories of fewer people are shown as "fewer than 5" (no re-identification)
Dimension = Literal["sex", "race_ethnicity", "sex_race_ethnicity"]
DIMENSIONS: tuple[Dimension, ...] = ("sex", "race_ethnicity", "sex_race_ethnicity")


def share(part: int | None, whole: int | None) -> float | None:
    return None if not whole else (part or 0) / whole


def rates(counts: Mapping[str, int]) -> dict[str, float | None]:
    return {
        "taken": share(counts["started"], counts["invited"]),
        "completion": share(counts["submitted"], counts["started"]),
        "opened": share(counts["opened"], counts["invited"]),
        "reviewed": share(counts["reviewed"], counts["submitted"]),
        "decided": share(counts["decided"], counts["submitted"]),
        "approval": share(counts["approved"], counts["decided"]),
    }


def stage_order(pipelines: Sequence[Pipeline], found: set[str]) -> list[str]:
    """The stages found, in their pipelines' order (others after, by name; never "closed")."""
    order: list[str] = []
    for pipeline in pipelines:
        order += [stage.id for stage in pipeline.stages if stage.id not in order]
    return [s for s in order if s in found] + sorted(found - set(order) - {"closed"})


def stage_rows(
    pipelines: Sequence[Pipeline],
    entered: Mapping[str, int],
    left: Mapping[str, int],
    moved: Mapping[str, int],
) -> list[dict[str, Any]]:
    """Per stage: entered, moved on, ended there, still in it, and the pass-through."""
    rows = []
    for stage in stage_order(pipelines, set(entered) | set(left)):
        came, gone, on = int(entered.get(stage, 0)), int(left.get(stage, 0)), int(moved.get(stage, 0))
        rows.append(
            {
                "stage_id": stage,
                "entered": came,
                "moved_on": on,
                "ended_here": gone - on,
                "still_in": max(came - gone, 0),
                "pass_through": share(on, came),
            }
        )
    return rows


def pass_through(stages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "stage_id": s["stage_id"],
            "entered": s["entered"],
            "moved_on": s["moved_on"],
            "rate": s["pass_through"],
        }
        for s in stages
    ]


def question_rows(
    pipelines: Sequence[Pipeline], started: int, answered: Mapping[str, int], stopped: Mapping[str, int]
) -> list[dict[str, Any]]:
    """Per interview question, in the pipelines' order (then any other answered, by id)."""
    listed: list[tuple[str, str, str]] = []
    for pipeline in pipelines:
        for stage in pipeline.stages:
            if isinstance(stage, Interview):
                listed += [
                    (q.id, q.prompt, stage.id) for q in stage.questions if q.id not in {x[0] for x in listed}
                ]
    known = {q for q, _, _ in listed}
    listed += [(q, q, "") for q in sorted((set(answered) | set(stopped)) - known - {""})]
    return [
        {
            "question_id": qid,
            "stage_id": stage_id,
            "prompt": prompt,
            "answered": int(answered.get(qid, 0)),
            "answered_share": share(int(answered.get(qid, 0)), started),
            "last_answered_by_dropouts": int(stopped.get(qid, 0)),
        }
        for qid, prompt, stage_id in listed
    ]


def reminder_windows(counted: Iterable[tuple[int, int, int]]) -> dict[str, Any]:
    """From (reminders sent before submitting, submitted 0/1, applications): each window k, the
    applications it reached (sent reminder k before submitting) and those submitted in it."""
    by_k: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # k -> [not submitted, submitted]
    for k, submitted, n in counted:
        by_k[k][submitted] += n
    most = max(by_k, default=0)
    windows = []
    for k in range(most + 1):
        reached = sum(sum(by_k[j]) for j in range(k, most + 1) if j in by_k)
        submitted = by_k[k][1] if k in by_k else 0
        label = (
            "before any reminder"
            if k == 0
            else f"after reminder {k}" + ("" if k == most else f", before {k + 1}")
        )
        windows.append(
            {
                "window": k,
                "label": label,
                "reached": reached,
                "submitted": submitted,
                "share": share(submitted, reached),
            }
        )
    return {"windows": windows, "not_submitted": sum(v[0] for v in by_k.values())}


def impact(
    counted: Iterable[tuple[str, str, str, int, int]],
    pipelines: Sequence[Pipeline],
    unknown: Mapping[str, int],
) -> dict[str, Any]:
    """From (stage, sex, race, applicants, selected) counts ("declined" = not given): rows per stage,
    dimension and category, impact ratios against the highest rate, totals per stage."""
    cells: dict[tuple[str, Dimension, str], list[int]] = defaultdict(lambda: [0, 0])
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for stage, sex, race, n, selected in counted:
        totals[stage][0] += n
        totals[stage][1] += selected
        keys: list[tuple[Dimension, str]] = []
        if sex != "declined":
            keys.append(("sex", sex))
        if race != "declined":
            keys.append(("race_ethnicity", race))
        if sex != "declined" and race != "declined":
            keys.append(("sex_race_ethnicity", f"{sex}/{race}"))
        for dimension, category in keys:
            cells[stage, dimension, category][0] += n
            cells[stage, dimension, category][1] += selected
    order = stage_order(pipelines, {s for s in totals if s != "decision"})
    order += ["decision"] if "decision" in totals else []
    rows = []
    for stage in order:
        for dimension in DIMENSIONS:
            groups = [
                GroupCount(category, n, selected)
                for (st, dim, category), (n, selected) in sorted(cells.items())
                if st == stage and dim == dimension and n > 0
            ]
            rows += [
                {
                    "stage": stage,
                    "dimension": dimension,
                    "category": row.category,
                    "applicants": row.applicants,
                    "selected": row.selected,
                    "selection_rate": row.selection_rate,
                    "impact_ratio": row.impact_ratio,
                    "flagged": row.flagged,
                    "fisher_p": row.fisher_p,
                    "suppressed": row.applicants < SMALL,
                }
                for row in impact_rows(groups, min_reference=SMALL)
            ]
    return {
        "unknown": unknown["both"],
        "unknown_by_dimension": {"sex": unknown["sex"], "race_ethnicity": unknown["race_ethnicity"]},
        "totals": [{"stage": s, "applicants": totals[s][0], "selected": totals[s][1]} for s in order],
        "rows": rows,
    }
