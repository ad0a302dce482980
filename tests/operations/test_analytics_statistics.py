"""The statistics of the reviewer and fairness reports, checked against published worked examples
(Krippendorff 2011, Shrout & Fleiss 1979) and against cases computed by hand."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Literal

import pytest

from operations.analytics.statistics import (
    ICC,
    GroupCount,
    ImpactRow,
    adverse_impact,
    icc2,
    krippendorff_alpha,
    nearest_rank,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units.
KRIPPENDORFF_2011 = {
    "A": "1 2 3 3 2 1 4 1 2 . . .",
    "B": "1 2 3 3 2 2 4 1 2 5 . 3",
    "C": ". 3 3 3 2 3 4 2 2 5 1 .",
    "D": "1 2 3 3 2 4 4 1 2 5 1 .",
}

# Shrout & Fleiss (1979), Table 2: 6 targets scored by 4 judges.
SHROUT_FLEISS_1979 = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]

Units = dict[str, dict[str, float | None]]
Metric = Literal["interval", "ordinal"]
METRICS: tuple[Metric, ...] = ("interval", "ordinal")


def units_from_rows(rows: Mapping[str, str]) -> Units:
    """Reliability data (a row per reviewer, '.' for missing) as units[application][reviewer]."""
    columns = {rater: row.split() for rater, row in rows.items()}
    width = len(next(iter(columns.values())))
    return {
        f"unit-{i + 1}": {
            rater: None if values[i] == "." else float(values[i]) for rater, values in columns.items()
        }
        for i in range(width)
    }


# Krippendorff's alpha


@pytest.mark.parametrize(("metric", "published"), [("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_reproduces_the_published_worked_example(metric: Metric, published: float) -> None:
    alpha = krippendorff_alpha(units_from_rows(KRIPPENDORFF_2011), metric)
    assert alpha is not None
    assert round(alpha, 3) == published


def test_alpha_of_two_reviewers_in_perfect_agreement_is_one() -> None:
    units: Units = {"a": {"r1": 1, "r2": 1}, "b": {"r1": 3, "r2": 3}, "c": {"r1": 4, "r2": 4}}
    assert krippendorff_alpha(units, "interval") == 1.0
    assert krippendorff_alpha(units, "ordinal") == 1.0


def test_an_application_scored_once_is_not_pairable_and_is_left_out() -> None:
    # Coincidences: o(1,1) = 2, o(2,3) = o(3,2) = 1, o(3,3) = 2; n_1 = 2, n_2 = 1, n_3 = 3, n = 6.
    scored: Units = {"a": {"r1": 1, "r2": 1}, "b": {"r1": 2, "r2": 3}, "c": {"r1": 3, "r2": 3}}
    with_single: Units = {**scored, "d": {"r1": 5, "r2": None}, "e": {"r2": 1}, "f": {}}
    # Interval: D_o sum = 2 * 1; D_e sum = 2 * (2*1*1 + 2*3*4 + 1*3*1) = 58; alpha = 1 - 5 * 2 / 58.
    assert krippendorff_alpha(with_single, "interval") == pytest.approx(1 - 10 / 58)
    # Ordinal: delta(1,2) = (3 - 3/2)^2, delta(2,3) = (4 - 4/2)^2, delta(1,3) = (6 - 5/2)^2;
    # D_o sum = 2 * 4 = 8; D_e sum = 2 * (2*1*2.25 + 2*3*12.25 + 1*3*4) = 180; alpha = 1 - 5 * 8 / 180.
    assert krippendorff_alpha(with_single, "ordinal") == pytest.approx(1 - 40 / 180)
    for metric in METRICS:
        assert krippendorff_alpha(with_single, metric) == krippendorff_alpha(scored, metric)


def test_alpha_is_undefined_without_variation_or_without_pairs() -> None:
    identical: Units = {"a": {"r1": 3, "r2": 3, "r3": 3}, "b": {"r1": 3, "r2": 3}}
    assert krippendorff_alpha(identical, "interval") is None
    assert krippendorff_alpha(identical, "ordinal") is None
    unpaired: Units = {"a": {"r1": 1}, "b": {"r2": 5, "r3": None}}
    assert krippendorff_alpha(unpaired, "interval") is None
    assert krippendorff_alpha({}, "ordinal") is None


def test_systematic_disagreement_gives_a_negative_alpha() -> None:
    # o(1,2) = o(2,1) = 2, n_1 = n_2 = 2, n = 4: alpha = 1 - 3 * 4 / 8 = -0.5 for either metric.
    units: Units = {"a": {"r1": 1, "r2": 2}, "b": {"r1": 2, "r2": 1}}
    assert krippendorff_alpha(units, "interval") == pytest.approx(-0.5)
    assert krippendorff_alpha(units, "ordinal") == pytest.approx(-0.5)


def test_interval_and_ordinal_differ_when_the_distances_are_uneven() -> None:
    # The values 1, 2, 10: an interval metric weighs the distance to 10, an ordinal one only ranks it.
    units: Units = {"a": {"r1": 1, "r2": 2}, "b": {"r1": 2, "r2": 2}, "c": {"r1": 10, "r2": 10}}
    interval = krippendorff_alpha(units, "interval")
    ordinal = krippendorff_alpha(units, "ordinal")
    assert interval is not None
    assert ordinal is not None
    assert interval > ordinal


def test_alpha_does_not_depend_on_the_order_of_reviewers_or_applications() -> None:
    units = units_from_rows(KRIPPENDORFF_2011)
    rng = random.Random(7)
    for metric in METRICS:
        expected = krippendorff_alpha(units, metric)
        for _ in range(5):
            unit_ids = list(units)
            rng.shuffle(unit_ids)
            shuffled: Units = {}
            for unit_id in unit_ids:
                raters = list(units[unit_id])
                rng.shuffle(raters)
                shuffled[unit_id] = {rater: units[unit_id][rater] for rater in raters}
            assert krippendorff_alpha(shuffled, metric) == expected


def test_an_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="nominal"):
        krippendorff_alpha({"a": {"r1": 1, "r2": 2}}, "nominal")  # type: ignore[arg-type]


# ICC(2,1) and ICC(2,k)


def test_icc_reproduces_shrout_and_fleiss() -> None:
    result = icc2(SHROUT_FLEISS_1979)
    assert result.icc2_1 is not None
    assert result.icc2_k is not None
    assert round(result.icc2_1, 2) == 0.29
    assert round(result.icc2_k, 2) == 0.62


def test_icc_of_perfect_agreement_with_variation_is_one() -> None:
    assert icc2([[1, 1, 1], [2.5, 2.5, 2.5], [4, 4, 4], [0.1, 0.1, 0.1]]) == ICC(1.0, 1.0)


@pytest.mark.parametrize(
    "matrix",
    [
        [],
        [[1, 2]],  # a single application
        [[1], [2]],  # a single reviewer
        [[1, 2, 3], [2, 3]],  # a score missing
    ],
)
def test_icc_needs_a_complete_design(matrix: list[list[float]]) -> None:
    assert icc2(matrix) == ICC(None, None)


def test_icc_without_any_variation_is_undefined() -> None:
    assert icc2([[3, 3], [3, 3], [3, 3]]) == ICC(None, None)


# Adverse impact


def row(rows: list[ImpactRow], category: str) -> ImpactRow:
    return next(r for r in rows if r.category == category)


def fisher_two_sided(table: list[list[int]]) -> float:
    """The two-sided Fisher p-value from the hypergeometric distribution: the probability, with the
    margins fixed, of every table at most as likely as the observed one."""
    (a, b), (c, d) = table
    row1, column1, total = a + b, a + c, a + b + c + d

    def probability(x: int) -> float:
        return math.comb(column1, x) * math.comb(total - column1, row1 - x) / math.comb(total, row1)

    observed = probability(a)
    support = range(max(0, row1 + column1 - total), min(row1, column1) + 1)
    return sum(p for x in support if (p := probability(x)) <= observed * (1 + 1e-7))


def test_half_the_selection_rate_is_flagged() -> None:
    rows = adverse_impact([GroupCount("men", 80, 48), GroupCount("women", 40, 12)])
    men, women = rows
    assert men == ImpactRow("men", 80, 48, 0.6, 1.0, False, None)
    assert women.selection_rate == pytest.approx(0.3)
    assert women.impact_ratio == pytest.approx(0.5)
    assert women.flagged
    assert women.fisher_p == pytest.approx(fisher_two_sided([[12, 28], [48, 32]]))
    assert women.fisher_p is not None
    assert women.fisher_p < 0.01


def test_exactly_four_fifths_is_not_flagged() -> None:
    rows = adverse_impact([GroupCount("a", 100, 50), GroupCount("b", 100, 40), GroupCount("c", 100, 39)])
    assert row(rows, "b").impact_ratio == 0.8
    assert not row(rows, "b").flagged
    assert row(rows, "c").flagged
    assert not adverse_impact([GroupCount("a", 10, 5), GroupCount("b", 10, 4)], threshold=0.75)[1].flagged


def test_scipy_two_sided_fisher_matches_the_hypergeometric_definition() -> None:
    # [[3, 1], [1, 3]]: margins 4/4, P(x) = C(4,x)^2 / 70; tables at most as likely: x = 0, 1, 3, 4.
    assert fisher_two_sided([[3, 1], [1, 3]]) == pytest.approx(34 / 70)
    rows = adverse_impact([GroupCount("reference", 4, 3), GroupCount("other", 4, 1)])
    assert row(rows, "other").fisher_p == pytest.approx(34 / 70)
    assert row(rows, "other").fisher_p == pytest.approx(0.4857142857)
    for table in ([[2, 7], [8, 2]], [[0, 5], [6, 1]], [[1, 10], [3, 4]]):
        (s1, r1), (s2, r2) = table
        rows = adverse_impact([GroupCount("x", s1 + r1, s1), GroupCount("ref", s2 + r2, s2)])
        assert row(rows, "x").fisher_p == pytest.approx(fisher_two_sided(table))


def test_a_category_without_applicants_has_no_rate() -> None:
    rows = adverse_impact([GroupCount("none", 0, 0), GroupCount("some", 10, 3)])
    assert rows[0] == ImpactRow("none", 0, 0, None, None, False, None)
    assert rows[1] == ImpactRow("some", 10, 3, 0.3, 1.0, False, None)
    assert adverse_impact([GroupCount("none", 0, 0)]) == [ImpactRow("none", 0, 0, None, None, False, None)]
    assert adverse_impact([]) == []


def test_when_everyone_is_rejected_nothing_is_flagged() -> None:
    rows = adverse_impact([GroupCount("a", 10, 0), GroupCount("b", 30, 0)])
    assert [(r.selection_rate, r.impact_ratio, r.flagged) for r in rows] == [
        (0.0, None, False),
        (0.0, None, False),
    ]
    assert row(rows, "b").fisher_p is None  # the reference: more applicants
    assert row(rows, "a").fisher_p == pytest.approx(1.0)


def test_the_reference_is_chosen_deterministically_and_the_input_order_is_kept() -> None:
    # Equal rates: the category with more applicants is the reference, then the first name.
    rows = adverse_impact([GroupCount("b", 10, 5), GroupCount("a", 20, 10), GroupCount("c", 4, 1)])
    assert [r.category for r in rows] == ["b", "a", "c"]
    assert row(rows, "a").fisher_p is None
    assert row(rows, "b").fisher_p is not None
    assert row(rows, "c").impact_ratio == pytest.approx(0.5)
    tied = adverse_impact([GroupCount("y", 10, 5), GroupCount("x", 10, 5)])
    assert row(tied, "x").fisher_p is None
    assert row(tied, "y").fisher_p == pytest.approx(1.0)


@pytest.mark.parametrize(
    "groups",
    [
        [GroupCount("a", 10, 11)],
        [GroupCount("a", 10, -1)],
        [GroupCount("a", 10, 1), GroupCount("a", 5, 1)],
    ],
)
def test_inconsistent_counts_are_refused(groups: list[GroupCount]) -> None:
    with pytest.raises(ValueError, match=r"selected|distinct"):
        adverse_impact(groups)


# Nearest-rank percentile


def test_nearest_rank_median_and_ninetieth_percentile() -> None:
    assert nearest_rank([15, 20, 35, 40, 50], 0.5) == 35  # ceil(2.5) = 3rd
    assert nearest_rank([3, 1, 4, 2], 0.5) == 2  # ceil(2) = 2nd: at least half at or below it
    assert nearest_rank(list(range(1, 11)), 0.9) == 9  # ceil(9) = 9th
    assert nearest_rank([15, 20, 35, 40, 50], 0.9) == 50  # ceil(4.5) = 5th
    assert nearest_rank([7.5], 0.9) == 7.5


def test_nearest_rank_bounds() -> None:
    assert nearest_rank([], 0.5) is None
    assert nearest_rank([4, 2, 9], 0) == 2
    assert nearest_rank([4, 2, 9], 1) == 9
    with pytest.raises(ValueError, match="between 0 and 1"):
        nearest_rank([1.0], 1.5)


def test_nearest_rank_multiplies_in_floating_point_like_postgresql() -> None:
    # 0.07 * 100 is 7.000000000000001 in floating point; the rank is taken from the decimal: the 7th.
    assert nearest_rank([float(v) for v in range(1, 101)], 0.07) == 7
    assert nearest_rank([float(v) for v in range(1, 101)], 0.5) == 50
