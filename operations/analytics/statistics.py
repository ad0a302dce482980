"""The statistics behind the reviewer and fairness reports, written from their definitions.

- Inter-rater agreement among reviewers: Krippendorff's alpha (interval and ordinal metrics), by the
  coincidence-matrix formulation of K. Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011).
- Agreement on a complete design (every reviewer scores every application): ICC(2,1) and ICC(2,k), two-way
  random effects, absolute agreement (Shrout & Fleiss 1979; McGraw & Wong 1996, ICC(A,1) and ICC(A,k)).
- Adverse impact on candidates: selection rates and the four-fifths rule of 29 CFR 1607.4(D), with the
  two-sided Fisher exact test against the category with the highest selection rate.
- The nearest-rank percentile, the reference for the percentiles the SQL queries compute.

Agreement is computed in exact rational arithmetic, so that "no variation" and "perfect agreement" are
recognized exactly rather than up to rounding; results are returned as floats.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from scipy.stats import fisher_exact


def krippendorff_alpha(
    units: Mapping[str, Mapping[str, float | None]], metric: Literal["interval", "ordinal"]
) -> float | None:
    """Krippendorff's alpha over `units[application][reviewer] = score` (None or absent: not scored).

    alpha = 1 - D_o / D_e from the coincidence matrix: within an application scored m >= 2 times, each
    ordered pair of scores by different reviewers counts 1/(m-1). Applications scored fewer than twice
    are not pairable and are left out. None when alpha is undefined: fewer than 2 pairable scores, or
    no variation among them (D_e = 0)."""
    coincidences: defaultdict[tuple[Fraction, Fraction], Fraction] = defaultdict(Fraction)
    for ratings in units.values():
        values = Counter(Fraction(value) for value in ratings.values() if value is not None)
        pairable = sum(values.values())
        if pairable < 2:
            continue
        for c, n_c in values.items():
            for k, n_k in values.items():
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                coincidences[c, k] += Fraction(pairs, pairable - 1)
    return alpha_from_coincidences(coincidences, metric)


def alpha_from_coincidences(
    coincidences: Mapping[tuple[Fraction, Fraction], Fraction] | Mapping[tuple[float, float], float],
    metric: Literal["interval", "ordinal"],
) -> float | None:
    """Alpha from the coincidence matrix `o[c, k]` (the SQL queries build it in the database, one
    row per pair of values, so that agreement over many applications is not a loop over scores)."""
    if metric not in ("interval", "ordinal"):
        raise ValueError(f"unknown metric {metric!r}")
    matrix = {(Fraction(c), Fraction(k)): Fraction(o) for (c, k), o in coincidences.items()}
    marginals: defaultdict[Fraction, Fraction] = defaultdict(Fraction)
    for (c, _), o_ck in matrix.items():
        marginals[c] += o_ck
    n = sum(marginals.values(), Fraction(0))
    if n < 2:
        return None
    delta = _interval_delta if metric == "interval" else _ordinal_delta(marginals)
    observed = sum((o_ck * delta(c, k) for (c, k), o_ck in matrix.items()), Fraction(0))
    expected = sum(
        (n_c * n_k * delta(c, k) for c, n_c in marginals.items() for k, n_k in marginals.items()), Fraction(0)
    )
    if expected == 0:
        return None
    return float(1 - (n - 1) * observed / expected)


def _interval_delta(c: Fraction, k: Fraction) -> Fraction:
    return (c - k) ** 2


def _ordinal_delta(marginals: Mapping[Fraction, Fraction]) -> Callable[[Fraction, Fraction], Fraction]:
    """delta(c, k) = (sum of n_g for the ranks g from c to k - (n_c + n_k) / 2)^2 over the ordered values."""
    ordered = sorted(marginals)
    rank = {value: index for index, value in enumerate(ordered)}
    cumulative = [Fraction(0)]
    for value in ordered:
        cumulative.append(cumulative[-1] + marginals[value])

    def delta(c: Fraction, k: Fraction) -> Fraction:
        low, high = sorted((rank[c], rank[k]))
        between = cumulative[high + 1] - cumulative[low]
        return (between - (marginals[c] + marginals[k]) / 2) ** 2

    return delta


@dataclass(frozen=True)
class ICC:
    """Intraclass correlations, absolute agreement: of one reviewer's score, and of the mean of k."""

    icc2_1: float | None
    icc2_k: float | None


def icc2(matrix: Sequence[Sequence[float]]) -> ICC:
    """ICC(2,1) and ICC(2,k) of `matrix[application][reviewer]`, two-way random effects.

    The design must be complete: at least 2 applications, each scored by the same k >= 2 reviewers;
    otherwise both are None, as is either one whose denominator is zero."""
    n = len(matrix)
    k = len(matrix[0]) if matrix else 0
    if n < 2 or k < 2 or any(len(row) != k for row in matrix):
        return ICC(None, None)
    x = [[Fraction(value) for value in row] for row in matrix]
    return icc2_from_sums(
        n,
        k,
        total=sum((v for row in x for v in row), Fraction(0)),
        squares=sum((v * v for row in x for v in row), Fraction(0)),
        row_squares=sum((sum(row, Fraction(0)) ** 2 for row in x), Fraction(0)),
        column_squares=sum((sum((row[j] for row in x), Fraction(0)) ** 2 for j in range(k)), Fraction(0)),
    )


def icc2_from_sums(
    n: int,
    k: int,
    *,
    total: Fraction | float,
    squares: Fraction | float,
    row_squares: Fraction | float,
    column_squares: Fraction | float,
) -> ICC:
    """ICC(2,1) and ICC(2,k) from the sums a database computes: the sum of the scores, of their
    squares, of each application's total squared, and of each reviewer's total squared (the two-way
    ANOVA's sums of squares follow from these)."""
    if n < 2 or k < 2:
        return ICC(None, None)
    s, q = Fraction(total), Fraction(squares)
    correction = s * s / (n * k)
    rows = Fraction(row_squares) / k - correction
    columns = Fraction(column_squares) / n - correction
    residual = q - correction - rows - columns
    bms = rows / (n - 1)
    jms = columns / (k - 1)
    ems = residual / ((n - 1) * (k - 1))
    return ICC(
        _ratio(bms - ems, bms + (k - 1) * ems + k * (jms - ems) / n),
        _ratio(bms - ems, bms + (jms - ems) / n),
    )


def _ratio(numerator: Fraction, denominator: Fraction) -> float | None:
    return None if denominator == 0 else float(numerator / denominator)


@dataclass(frozen=True)
class GroupCount:
    """Candidates of one category (of sex, race or ethnicity) who applied, and how many were selected."""

    category: str
    applicants: int
    selected: int


@dataclass(frozen=True)
class ImpactRow:
    """One category in the adverse impact report; rates and ratios are None where undefined."""

    category: str
    applicants: int
    selected: int
    selection_rate: float | None
    impact_ratio: float | None
    flagged: bool
    fisher_p: float | None


def adverse_impact(
    groups: Sequence[GroupCount], threshold: float = 0.8, min_reference: int = 1
) -> list[ImpactRow]:
    """Selection rates by category against the highest one (the four-fifths rule), in the input order.

    The reference is the category with the highest selection rate (ties: more applicants, then the name).
    Only a category of at least `min_reference` applicants can be the reference (any, if none is that
    large): one selected candidate of one is not a rate to measure others by.
    A category is flagged when its rate is less than `threshold` times the reference's. fisher_p is the
    two-sided Fisher exact p-value of its selected/not selected counts against the reference's."""
    if len({group.category for group in groups}) != len(groups):
        raise ValueError("categories must be distinct")
    for group in groups:
        if not 0 <= group.selected <= group.applicants:
            raise ValueError(f"{group.category}: selected must be between 0 and the applicants")
    candidates = [group for group in groups if group.applicants >= max(min_reference, 1)] or [
        group for group in groups if group.applicants > 0
    ]
    reference = min(
        candidates,
        key=lambda group: (-Fraction(group.selected, group.applicants), -group.applicants, group.category),
        default=None,
    )
    return [_impact_row(group, reference, threshold) for group in groups]


def _impact_row(group: GroupCount, reference: GroupCount | None, threshold: float) -> ImpactRow:
    rate = Fraction(group.selected, group.applicants) if group.applicants else None
    ratio: float | None = None
    fisher_p: float | None = None
    if rate is not None and reference is not None:
        if reference.selected:
            ratio = float(rate / Fraction(reference.selected, reference.applicants))
        if group.category != reference.category:
            table = [
                [group.selected, group.applicants - group.selected],
                [reference.selected, reference.applicants - reference.selected],
            ]
            fisher_p = float(fisher_exact(table, alternative="two-sided").pvalue)
    return ImpactRow(
        category=group.category,
        applicants=group.applicants,
        selected=group.selected,
        selection_rate=None if rate is None else float(rate),
        impact_ratio=ratio,
        flagged=ratio is not None and ratio < threshold,
        fisher_p=fisher_p,
    )


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least a fraction q of the values at or
    below it, sorted(values)[ceil(q * n) - 1] (the first value for q = 0); None for no values.

    q is taken as the decimal it is written as (0.07 * 100 is 7, not the float 7.000000000000001), as
    the SQL queries compute it in integers (2 * rank >= n for the median, 10 * rank >= 9 * n for p90)."""
    if not 0 <= q <= 1:
        raise ValueError("q must be between 0 and 1")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(Fraction(str(q)) * len(ordered)), 1) - 1]
