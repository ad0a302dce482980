"""What the application workflow remembers, one dataclass per stage.

State only: nothing here issues a command, so a field may be added (with a default) without
touching any recorded history. The workflow's queries read from these.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import (
        AnswerInput,
        DecisionInput,
        ExtensionRequest,
        FeedbackRelease,
        ScorecardInput,
    )


@dataclass
class InviteState:
    invited_at: datetime | None = None
    reminders_sent: list[str] = field(default_factory=list)
    reminder_task: asyncio.Task[None] | None = None


@dataclass
class ExtensionState:
    granted_seconds: int = 0
    requests: int = 0  # numbers each request's messages, granted or not
    pending: ExtensionRequest | None = None


@dataclass
class InterviewState:
    answers: dict[str, AnswerInput] = field(default_factory=dict)
    takes: dict[str, int] = field(default_factory=dict)  # recordings saved, per question
    done: set[str] = field(default_factory=set)  # interview stages submitted
    consent_at: datetime | None = None
    opened: dict[str, list[datetime]] = field(default_factory=dict)  # when each take was opened
    answered_take: dict[str, int] = field(default_factory=dict)  # which take each saved answer came from
    saving_takes: dict[str, int] = field(default_factory=dict)  # recordings being written right now


@dataclass
class AssessmentState:
    started: dict[str, datetime] = field(default_factory=dict)
    answers: dict[str, dict[str, str]] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    score: float | None = None
    passed: bool | None = None
    timed_out: set[str] = field(default_factory=set)  # assessments ended by their time limit


@dataclass
class ReviewState:
    assigned: dict[str, str] = field(default_factory=dict)  # reviewer -> child workflow id, open assignments
    reviewers_seen: list[str] = field(default_factory=list)
    task_seq: int = 0
    tasks: dict[str, workflow.ChildWorkflowHandle[Any, str]] = field(default_factory=dict)
    starting: int = 0  # review tasks whose start has not been confirmed yet
    # Reassignments one at a time: never the same person twice.
    assigning: asyncio.Lock = field(default_factory=asyncio.Lock)
    scorecards: dict[str, ScorecardInput] = field(default_factory=dict)  # every stage's, by reviewer
    # Each review stage's own scorecards, for the stages run since "scorecards-per-review-stage".
    by_stage: dict[str, dict[str, ScorecardInput]] = field(default_factory=dict)
    reviewing: set[str] = field(default_factory=set)  # scorecards being written right now
    combined: float | None = None
    done: set[str] = field(default_factory=set)  # review stages settled
    auto_decision: str | None = None


@dataclass
class DecisionState:
    votes: dict[str, DecisionInput] = field(default_factory=dict)
    deciding: bool = False
    made: DecisionInput | None = None
    saved: bool = False  # the decision email waits until the decision is stored


@dataclass
class SchedulingState:
    slots: list[datetime] = field(default_factory=list)
    booked: datetime | None = None


@dataclass
class FeedbackState:
    held: bool = False
    release: FeedbackRelease | None = None


@dataclass
class OnboardingState:
    modules_done: set[str] = field(default_factory=set)
    started_at: datetime | None = None  # when onboarding began: each module is due this long after
