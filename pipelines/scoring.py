"""Pure functions the workflow uses to grade, combine scores and write feedback. Deterministic: no
clock, no I/O, so they run inside workflows and are tested directly."""

import math
import statistics
from dataclasses import dataclass, field

from pipelines.stages import Assessment, Criterion, GradedQuestion, Review


def is_correct(question: GradedQuestion, given: str) -> bool:
    given = given.strip()
    if question.type == "numeric":
        try:
            value = float(given.replace(",", "."))
        except ValueError:
            return False
        return math.isfinite(value) and abs(value - float(question.answer)) <= question.tolerance
    if question.type == "exact":
        return " ".join(given.lower().split()) == " ".join(question.answer.lower().split())
    return given == question.answer


@dataclass
class AssessmentResult:
    points: int
    max_points: int
    passed: bool
    correct: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.points / self.max_points if self.max_points else 0.0


def grade(assessment: Assessment, answers: dict[str, str]) -> AssessmentResult:
    correct = [q.id for q in assessment.questions if q.id in answers and is_correct(q, answers[q.id])]
    points = sum(q.points for q in assessment.questions if q.id in correct)
    max_points = sum(q.points for q in assessment.questions)
    # A small epsilon so that 3 of 4 passes a 0.75 mark despite floating point.
    passed = points / max_points + 1e-9 >= assessment.pass_mark
    return AssessmentResult(points, max_points, passed, correct)


def scorecard_score(criteria: tuple[Criterion, ...], ratings: dict[str, int]) -> float:
    """One reviewer's score: the weighted mean of their ratings."""
    total_weight = sum(c.weight for c in criteria)
    return sum(c.weight * ratings[c.id] for c in criteria) / total_weight


def combined_score(review: Review, cards: list[dict[str, int]]) -> float:
    """The panel's score, by the pipeline's formula, never by discussion. Rounded to 2 decimals."""
    scores = [scorecard_score(review.criteria, ratings) for ratings in cards]
    value = statistics.median(scores) if review.combine == "median" else statistics.fmean(scores)
    return round(value, 2)


@dataclass
class FeedbackContent:
    strengths: list[str]
    to_develop: list[str]
    next_steps: str


def build_feedback(review: Review, cards: list[dict[str, int]], next_steps: str) -> FeedbackContent:
    """Per criterion, the panel's mean rating turned into words through the rubric's anchors."""
    strengths: list[str] = []
    to_develop: list[str] = []
    for criterion in review.criteria:
        mean = statistics.fmean(card[criterion.id] for card in cards)
        level = math.floor(mean + 0.5)  # halves round up: 3.5 reads as a 4, 2.5 as a 3
        anchor = criterion.anchors[min(4, max(0, level - 1))]
        line = f"{criterion.title}: {anchor.rstrip('.')}."
        if level >= 4:
            strengths.append(line)
        elif level <= 2:
            to_develop.append(line)
    return FeedbackContent(strengths, to_develop, next_steps)
