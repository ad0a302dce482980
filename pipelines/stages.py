"""The stage building blocks HR ops compose pipelines from.

Plain frozen dataclasses, no I/O: the workflow imports them. Durations are in seconds (use the DAY,
HOUR and MINUTE constants). Each stage has a `kind`, and an `id` unique within its pipeline.
"""

from dataclasses import dataclass, field
from typing import ClassVar, Literal

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR

QuestionType = Literal["video", "audio", "text", "choice", "file"]
RECORDED: tuple[str, ...] = ("video", "audio")


# ------------------------------------------------------------------------------------------ invite


@dataclass(frozen=True)
class Reminders:
    """When to remind a candidate who has not finished: seconds before the deadline, and/or seconds
    after the invitation. Both lists may be used together."""

    before_deadline: tuple[int, ...] = (3 * DAY, 1 * DAY)
    after_invite: tuple[int, ...] = ()


@dataclass(frozen=True)
class Extensions:
    """Extension requests: granted at once while the total stays within `auto_grant`; beyond that,
    up to `max_total`, a recruiter grants or refuses; beyond `max_total` refused at once."""

    auto_grant: int = 2 * DAY
    max_total: int = 7 * DAY


@dataclass(frozen=True)
class Invite:
    kind: ClassVar[str] = "invite"
    id: str = "invite"
    deadline: int = 7 * DAY
    reminders: Reminders = field(default_factory=Reminders)
    extensions: Extensions = field(default_factory=Extensions)


# --------------------------------------------------------------------------------------- interview


@dataclass(frozen=True)
class Question:
    id: str
    prompt: str
    type: QuestionType = "text"
    required: bool = True
    choices: tuple[str, ...] = ()
    think_time: int | None = None  # seconds to read the question before recording starts
    answer_time_limit: int | None = None  # seconds for one take or one written answer
    retakes: int | None = None  # extra takes; None: up to MAX_TAKES_PER_QUESTION; think time => 0
    max_length: int = 10_000
    max_bytes: int | None = None  # upload limit for file, video and audio answers

    @property
    def timed(self) -> bool:
        """Its prompt stays hidden until opened, and its clock runs from then."""
        return self.think_time is not None or self.answer_time_limit is not None

    @property
    def takes_allowed(self) -> int | None:
        """How many takes it allows (None = unlimited). A recording with think time gets one go,
        otherwise one plus its retakes; a timed written answer gets one go."""
        if self.type in RECORDED:
            if self.think_time is not None:
                return 1
            return None if self.retakes is None else 1 + self.retakes
        return 1 if self.timed else None


@dataclass(frozen=True)
class Interview:
    kind: ClassVar[str] = "interview"
    id: str = "interview"
    questions: tuple[Question, ...] = ()


# -------------------------------------------------------------------------------------- assessment


@dataclass(frozen=True)
class GradedQuestion:
    """Auto-graded. `answer` is the correct choice, the exact expected text (compared ignoring case
    and surrounding spaces), or a number, accepted within `tolerance`."""

    id: str
    prompt: str
    type: Literal["choice", "numeric", "exact"]
    answer: str
    choices: tuple[str, ...] = ()
    tolerance: float = 0.0
    points: int = 1


@dataclass(frozen=True)
class Assessment:
    kind: ClassVar[str] = "assessment"
    id: str = "assessment"
    questions: tuple[GradedQuestion, ...] = ()
    pass_mark: float = 0.6  # share of the points, 0..1
    time_limit: int = 30 * MINUTE  # from the moment the candidate starts it
    on_fail: Literal["reject", "inform"] = "inform"
    show_result: bool = False  # the candidate's page shows their score and whether they passed


# ------------------------------------------------------------------------------------------ review


@dataclass(frozen=True)
class Criterion:
    id: str
    title: str
    anchors: tuple[str, str, str, str, str]  # what a 1, 2, 3, 4 and 5 look like
    weight: float = 1.0


@dataclass(frozen=True)
class Review:
    kind: ClassVar[str] = "review"
    id: str = "review"
    pool: str = "default"
    reviewers: int = 1
    criteria: tuple[Criterion, ...] = ()
    blind: bool = True  # reviewers see no name, email or photo
    independent: bool = True  # others' scores hidden until one's own is in
    sla: int = 2 * DAY  # each reviewer's time to score
    reminder_before_sla: int = 1 * DAY
    max_reassignments: int = 3
    combine: Literal["weighted_mean", "median"] = "weighted_mean"
    auto_advance_at: float | None = None  # combined score >= this: approved without a decision
    auto_reject_below: float | None = None  # combined score < this: rejected without a decision


# ---------------------------------------------------------------------------------------- feedback


@dataclass(frozen=True)
class Feedback:
    kind: ClassVar[str] = "feedback"
    id: str = "feedback"
    next_steps: str = ""
    hold_for_edit: bool = False  # a recruiter edits and releases it before it goes out


# ---------------------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class ReasonCode:
    code: str
    decision: Literal["approve", "reject"]
    label: str
    template: str  # the email template sent with this reason


DEFAULT_REASONS: tuple[ReasonCode, ...] = (
    ReasonCode("advance", "approve", "Moving forward", "approved"),
    ReasonCode("not_a_fit", "reject", "Not the right fit for this role", "rejected"),
    ReasonCode("role_filled", "reject", "The role has been filled", "rejected"),
)


@dataclass(frozen=True)
class Decision:
    kind: ClassVar[str] = "decision"
    id: str = "decision"
    approvals_required: int = 1  # N of the M approvers must approve
    approvers: tuple[str, ...] = ()  # staff ids; empty = any recruiter, first decision counts
    reason_codes: tuple[ReasonCode, ...] = DEFAULT_REASONS
    sla: int | None = 3 * DAY
    reminder_before_sla: int = 1 * DAY
    escalate_to: str | None = None  # staff id of the hiring manager told when the SLA passes


# -------------------------------------------------------------------------------------- scheduling


@dataclass(frozen=True)
class Scheduling:
    kind: ClassVar[str] = "scheduling"
    id: str = "scheduling"
    title: str = "Live interview"
    duration_minutes: int = 45
    location: str = "Video call; the link follows in the confirmation"
    offer_within: int = 3 * DAY  # the recruiter should offer slots within this (check-ins meanwhile)
    pick_within: int = 5 * DAY  # the candidate picks before this, or the application expires
    reminder_before_slot: int = 1 * DAY


# -------------------------------------------------------------------------------------- onboarding


@dataclass(frozen=True)
class Module:
    id: str
    title: str
    due: int  # seconds after onboarding starts
    content: str = ""  # what the module's page says: plain text, blank lines between paragraphs


@dataclass(frozen=True)
class Onboarding:
    kind: ClassVar[str] = "onboarding"
    id: str = "onboarding"
    modules: tuple[Module, ...] = ()
    reminder_before_due: int = 1 * DAY
    grace_after_last_due: int = 14 * DAY  # onboarding closes (incomplete) this long after the last due date


# ------------------------------------------------------------------------------------------ custom


@dataclass(frozen=True)
class Custom:
    """A stage ops implement themselves, registered in pipelines/custom.py: an activity (runs within
    `timeout`) or a child workflow (runs as long as it needs, its own timers included). Either gets
    the application id and returns "continue" or "reject"."""

    kind: ClassVar[str] = "custom"
    id: str = "custom"
    activity: str = ""
    workflow: str = ""
    timeout: int = 10 * MINUTE


# ---------------------------------------------------------------------------------------- check-in


@dataclass(frozen=True)
class CheckIn:
    """While a candidate waits on the company (review, decision, slots, held feedback) longer than the
    promised response time, send an update every `every` seconds."""

    promised_response: int = 5 * DAY
    every: int = 5 * DAY


Stage = Invite | Interview | Assessment | Review | Feedback | Decision | Scheduling | Onboarding | Custom
STAGE_TYPES: dict[str, type] = {
    cls.kind: cls
    for cls in (Invite, Interview, Assessment, Review, Feedback, Decision, Scheduling, Onboarding, Custom)
}
CANDIDATE_STAGES = ("interview", "assessment")  # what the candidate completes before the invite deadline
