"""The building blocks HR ops compose pipelines from.

Plain dataclasses with no I/O: the workflow imports them, and a pipeline's definition travels in the
workflow input as a snapshot with a version hash, so editing a pipeline never changes a running
application.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

QuestionType = Literal["text", "file"]
DAY = 24 * 60 * 60


class PipelineError(ValueError):
    """A pipeline definition that cannot run; the message says which pipeline and what to fix."""


@dataclass(frozen=True)
class Question:
    id: str
    prompt: str
    type: QuestionType = "text"
    required: bool = True
    max_length: int = 10_000


@dataclass(frozen=True)
class InviteStage:
    """Invitation: how long the candidate has, and when to remind them (seconds before the deadline)."""

    deadline_seconds: int = 7 * DAY
    reminders_before_deadline_seconds: tuple[int, ...] = (3 * DAY, 1 * DAY)


@dataclass(frozen=True)
class InterviewStage:
    """One-way interview: the questions the candidate answers at their own pace."""

    questions: tuple[Question, ...] = ()


@dataclass(frozen=True)
class ReviewStage:
    """One reviewer scores the submission against these criteria (1 to 5 each)."""

    criteria: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pipeline:
    name: str
    title: str
    invite: InviteStage = field(default_factory=InviteStage)
    interview: InterviewStage = field(default_factory=InterviewStage)
    review: ReviewStage = field(default_factory=ReviewStage)

    def validate(self) -> "Pipeline":
        where = f"pipeline '{self.name}'"
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise PipelineError(f"{where}: name must be letters, digits, '-' or '_'")
        if self.invite.deadline_seconds <= 0:
            raise PipelineError(f"{where}, stage invite: deadline must be positive")
        for offset in self.invite.reminders_before_deadline_seconds:
            if not 0 < offset < self.invite.deadline_seconds:
                raise PipelineError(
                    f"{where}, stage invite: reminder {offset}s before the deadline falls outside "
                    f"the {self.invite.deadline_seconds}s the candidate has"
                )
        if len(set(self.invite.reminders_before_deadline_seconds)) != len(
            self.invite.reminders_before_deadline_seconds
        ):
            raise PipelineError(f"{where}, stage invite: two reminders at the same time")
        ids = [q.id for q in self.interview.questions]
        if not ids:
            raise PipelineError(f"{where}, stage interview: needs at least one question")
        if len(set(ids)) != len(ids):
            raise PipelineError(f"{where}, stage interview: question ids must be unique, got {ids}")
        if not self.review.criteria:
            raise PipelineError(f"{where}, stage review: needs at least one criterion")
        return self

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.interview.questions if q.id == question_id), None)

    def snapshot(self) -> dict[str, object]:
        return asdict(self)

    @property
    def version(self) -> str:
        """sha256 of the canonical JSON of the definition: changes whenever anything in it changes."""
        canonical = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def pipeline_from_snapshot(data: dict[str, Any]) -> Pipeline:
    """Rebuild the definition an application started under from the snapshot stored with it."""
    invite = data.get("invite", {})
    interview = data.get("interview", {})
    review = data.get("review", {})
    return Pipeline(
        name=data["name"],
        title=data["title"],
        invite=InviteStage(
            deadline_seconds=invite["deadline_seconds"],
            reminders_before_deadline_seconds=tuple(invite["reminders_before_deadline_seconds"]),
        ),
        interview=InterviewStage(questions=tuple(Question(**q) for q in interview["questions"])),
        review=ReviewStage(criteria=tuple(review["criteria"])),
    )
