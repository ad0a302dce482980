"""Application statuses and stages: one vocabulary for the workflow, the tables and the API."""

from __future__ import annotations

from enum import StrEnum


class ApplicationStatus(StrEnum):
    invited = "invited"
    in_progress = "in_progress"
    submitted = "submitted"
    in_review = "in_review"
    awaiting_decision = "awaiting_decision"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    withdrawn = "withdrawn"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {
        ApplicationStatus.approved,
        ApplicationStatus.rejected,
        ApplicationStatus.expired,
        ApplicationStatus.withdrawn,
    }
)


class Recommendation(StrEnum):
    definitely_not = "definitely_not"
    no = "no"
    yes = "yes"
    strong_yes = "strong_yes"
    no_decision = "no_decision"


class Decision(StrEnum):
    approve = "approve"
    reject = "reject"
