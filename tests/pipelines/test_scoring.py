"""The scoring functions, directly: a scorecard's weighted score, a panel's combined score, and the
feedback built from the rubric's anchors."""

from __future__ import annotations

import dataclasses

import pytest

from pipelines.scoring import build_feedback, combined_score, scorecard_score
from pipelines.stages import Criterion, Review

# ================================================================================ scoring, directly


WEIGHTED = (
    Criterion("design", "Design", ("d1", "d2", "d3", "d4", "d5"), weight=2.0),
    Criterion("code", "Code", ("c1", "c2", "c3", "c4", "c5")),
    Criterion("team", "Team", ("t1", "t2", "t3", "t4", "t5"), weight=0.5),
)


def test_scorecard_score_is_the_weighted_mean_of_the_ratings() -> None:
    assert scorecard_score(WEIGHTED, {"design": 5, "code": 2, "team": 4}) == pytest.approx(
        (2 * 5 + 1 * 2 + 0.5 * 4) / 3.5
    )
    assert scorecard_score(WEIGHTED, {"design": 3, "code": 3, "team": 3}) == 3
    # Only the criteria count: an extra rating is ignored, weights decide.
    assert scorecard_score(WEIGHTED, {"design": 1, "code": 5, "team": 5, "other": 5}) == pytest.approx(
        (2 + 5 + 2.5) / 3.5
    )


def test_combined_score_by_weighted_mean_and_median() -> None:
    cards = [
        {"design": 5, "code": 2, "team": 4},  # 14/3.5 = 4.0
        {"design": 2, "code": 3, "team": 2},  # 8/3.5 = 2.2857
        {"design": 3, "code": 4, "team": 5},  # 12.5/3.5 = 3.5714
    ]
    mean_review = Review(criteria=WEIGHTED, combine="weighted_mean")
    median_review = dataclasses.replace(mean_review, combine="median")
    assert combined_score(mean_review, cards) == round((14 / 3.5 + 8 / 3.5 + 12.5 / 3.5) / 3, 2) == 3.29
    assert combined_score(median_review, cards) == round(12.5 / 3.5, 2) == 3.57
    # An even panel: the median is the mean of the two middle scores.
    assert combined_score(median_review, cards[:2]) == round((4.0 + 8 / 3.5) / 2, 2) == 3.14
    assert combined_score(mean_review, cards[:1]) == 4.0
    assert combined_score(median_review, [cards[1], cards[1], cards[0]]) == 2.29


def test_build_feedback_turns_panel_means_into_anchors() -> None:
    review = Review(
        criteria=(
            Criterion("clarity", "Clarity", ("Muddled.", "Vague.", "Clear.", "Crisp.", "Brilliant.")),
            Criterion("depth", "Depth", ("None", "Thin", "Adequate", "Deep", "Expert")),
            Criterion("care", "Care", ("Careless", "Hasty", "Careful", "Thorough", "Meticulous")),
            Criterion("speed", "Speed", ("Stalled", "Slow", "Steady", "Quick", "Fast")),
        )
    )
    cards = [
        {"clarity": 4, "depth": 2, "care": 3, "speed": 3},
        {"clarity": 4, "depth": 1, "care": 3, "speed": 4},
    ]  # means: clarity 4.0, depth 1.5, care 3.0, speed 3.5
    content = build_feedback(review, cards, "Apply again next year.")
    # >= 3.5 is a strength, <= 2.5 to develop, in between neither; one full stop per line.
    assert content.strengths == ["Clarity: Crisp.", "Speed: Quick."]
    assert content.to_develop == ["Depth: Thin."]
    assert content.next_steps == "Apply again next year."

    single = build_feedback(review, [{"clarity": 1, "depth": 5, "care": 2, "speed": 3}], "")
    assert single.strengths == ["Depth: Expert."]
    assert single.to_develop == ["Clarity: Muddled.", "Care: Hasty."]
    assert single.next_steps == ""
