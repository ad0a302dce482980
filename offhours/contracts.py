"""Inputs and outputs exchanged between the API, the workflows and the activities.

Plain dataclasses only (no I/O), so the deterministic workflow sandbox can import them. They hold no
candidate name or email: activities look personal data up by application id, which keeps it out of
workflow histories. Staff appear by their directory id only.

Personal content travels by reference: free text (written answers, notes, reasons) is stored sealed
by the API (``offhours.vault``) and only its id and sha256 enter a workflow, so a history proves what
was recorded without holding it. The plain-text fields that came before are kept, optional, so that
histories recorded before still replay; nothing fills them any more.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Types of ApplicationError raised by workflow update validators; the API maps them to HTTP codes.
CONFLICT = "Conflict"  # the request is well formed but the application's state refuses it -> 409
INVALID = "Invalid"  # the request does not fit the pipeline (unknown question, wrong type) -> 422


@dataclass
class ApplicationInput:
    application_id: str
    job_id: str
    pipeline: dict[str, Any]  # the pipeline's snapshot (pipelines.base.Pipeline.snapshot())
    pipeline_version: str


@dataclass
class AnswerInput:
    question_id: str
    kind: str  # the question type: text, choice, file, video or audio
    text: str | None = None
    file_sha256: str | None = None
    file_name: str | None = None
    content_type: str | None = None
    size: int | None = None
    # Set by the API, never by the client: how long the upload took to arrive, and the length of the
    # recording as measured from the media. The workflow checks both against the question's limits.
    upload_seconds: float | None = None
    duration_seconds: float | None = None
    # A written answer by reference: stored sealed, its sha256 and length checked by the workflow.
    # (A choice answer stays in `text`: it is one of the pipeline's own options, not free text.)
    text_id: str | None = None
    text_sha256: str | None = None
    text_length: int | None = None


@dataclass
class ConsentInput:
    version: str  # sha256 of the consent wording the candidate saw


@dataclass
class OpenQuestion:
    question_id: str


@dataclass
class QuestionTake:
    """A question the candidate has opened: its prompt is shown and, if timed, its clock runs."""

    question_id: str
    take: int  # 1 for the first take; 0 for a question without limits (no take is counted)
    opened_at: datetime
    think_ends_at: datetime | None  # recording starts by this time
    answer_ends_at: datetime | None  # the answer must be in by this time (before the grace period)
    takes_allowed: int | None  # None = unlimited


@dataclass
class AssessmentAnswerInput:
    question_id: str
    value: str


@dataclass
class ExtensionRequest:
    seconds: int
    reason: str | None = None  # before Step 6 only
    reason_id: str | None = None
    reason_sha256: str | None = None


@dataclass
class DeadlineExtension:
    seconds: int
    decided_by: str


@dataclass
class ExtensionDecision:
    grant: bool
    decided_by: str


@dataclass
class ScorecardInput:
    reviewer: str  # staff id of the assigned reviewer; "" = the only open assignment
    overall_recommendation: str
    ratings: dict[str, int]
    notes: str | None = None  # before Step 6 only
    submitted_by: str = ""  # the authenticated principal
    notes_id: str | None = None
    notes_sha256: str | None = None


@dataclass
class DecisionInput:
    decision: str  # "approve" or "reject"
    decided_by: str  # the authenticated principal
    reason: str | None = None
    reason_code: str | None = None
    approver: str | None = None  # staff id voting, when the pipeline names approvers
    reason_id: str | None = None
    reason_sha256: str | None = None


@dataclass
class SlotOffer:
    slots: list[datetime]
    offered_by: str


@dataclass
class SlotPick:
    slot: datetime


@dataclass
class FeedbackRelease:
    released_by: str
    text: str | None = None  # before Step 6 only
    text_id: str | None = None  # the recruiter's edited feedback; None keeps the generated one
    text_sha256: str | None = None


@dataclass
class ModuleCompletion:
    module_id: str


@dataclass
class WithdrawInput:
    requested_by: str
    reason: str | None = None  # before Step 6 only
    reason_id: str | None = None
    reason_sha256: str | None = None


@dataclass
class ApplicationState:
    """What the workflow knows, returned by its query and by every update."""

    application_id: str
    status: str
    stage: str
    deadline: datetime | None
    opened_at: datetime | None = None
    answered: list[str] = field(default_factory=list)
    reminders_sent: list[str] = field(default_factory=list)
    scorecards: int = 0
    decision: str | None = None
    pending_extension_seconds: int | None = None
    assessment_ends_at: datetime | None = None
    assessment_score: float | None = None
    assessment_passed: bool | None = None
    reviewers: list[str] = field(default_factory=list)
    combined_score: float | None = None
    votes: dict[str, str] = field(default_factory=dict)
    slots: list[datetime] = field(default_factory=list)
    booked_slot: datetime | None = None
    modules_done: list[str] = field(default_factory=list)
    feedback_held: bool = False
    outcome: str | None = None  # how the application ended, once it has


@dataclass
class PortalState:
    """What the candidate portal needs beyond ApplicationState: consent and takes. A query of its own,
    kept out of ApplicationState, which every update returns and whose size the time-skipping test
    server is sensitive to."""

    consent_at: datetime | None = None
    takes: dict[str, int] = field(default_factory=dict)  # takes used per question
    open_takes: dict[str, QuestionTake] = field(default_factory=dict)  # opened, still in time
    # The assessments started: the answers saved so far (by stage id, then question id), and which
    # ones their time limit ended.
    assessment_answers: dict[str, dict[str, str]] = field(default_factory=dict)
    assessment_timed_out: list[str] = field(default_factory=list)
    onboarding_started_at: datetime | None = None


# ------------------------------------------------------------------------------------ activities


@dataclass
class LinkOpened:
    application_id: str
    at: datetime


@dataclass
class StatusChange:
    application_id: str
    status: str
    stage: str
    at: datetime
    deadline: datetime | None = None


@dataclass
class SaveAnswer:
    application_id: str
    answer: AnswerInput
    at: datetime


@dataclass
class SaveConsent:
    application_id: str
    version: str
    at: datetime


@dataclass
class SaveAssessment:
    application_id: str
    stage_id: str
    answers: dict[str, str]
    points: int
    max_points: int
    passed: bool
    started_at: datetime
    at: datetime


@dataclass
class AssignReviewers:
    application_id: str
    stage_id: str
    pool: str
    count: int
    exclude: list[str]
    due: datetime
    at: datetime


@dataclass
class ReleaseAssignment:
    application_id: str
    stage_id: str
    reviewer: str
    status: str  # "reassigned" or "completed"
    at: datetime


@dataclass
class SaveScorecard:
    application_id: str
    scorecard: ScorecardInput
    at: datetime
    stage_id: str = "review"


@dataclass
class SaveScore:
    application_id: str
    score: float
    at: datetime


@dataclass
class SaveDecision:
    application_id: str
    decision: DecisionInput
    at: datetime


@dataclass
class SaveFeedback:
    application_id: str
    stage_id: str
    strengths: list[str]
    to_develop: list[str]
    next_steps: str
    edited_text: str | None
    released: bool
    at: datetime
    edited_text_id: str | None = None


@dataclass
class SaveBooking:
    application_id: str
    stage_id: str
    slot: datetime
    duration_minutes: int
    at: datetime


@dataclass
class SaveModuleProgress:
    application_id: str
    module_id: str
    at: datetime


@dataclass
class CustomStageInput:
    application_id: str
    stage_id: str
    outcome_so_far: str | None
    contact: str | None = None  # staff id of the pipeline's contact person


@dataclass
class StageOutcome:
    """What a person records on a custom stage that waits for one (a reference check, say)."""

    outcome: str  # "continue" or "reject"
    recorded_by: str
    note: str | None = None  # before Step 6 only
    note_id: str | None = None
    note_sha256: str | None = None


@dataclass
class ReviewTaskInput:
    application_id: str
    stage_id: str
    reviewer: str
    sla_seconds: int
    reminder_before_sla_seconds: int


@dataclass
class EmailRequest:
    """One intended message. (application_id, message_key) identifies it for exactly-once sending.
    `to_staff` names a staff member by directory id; otherwise the candidate receives it."""

    application_id: str
    message_key: str
    template: str
    deadline: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)
    to_staff: str | None = None
    attach_ics: bool = False


@dataclass
class EmailResult:
    message_id: str
    sent_now: bool


# ------------------------------------------------------------------------------------ privacy


@dataclass
class RetentionNotice:
    """The application has closed: its content is erased `retention_days` after `closed_at`."""

    application_id: str
    closed_at: datetime


@dataclass
class PrivacyInput:
    application_id: str


@dataclass
class ClosedNotice:
    closed_at: datetime
    retention_days: int


@dataclass
class HoldChange:
    hold_id: str
    by: str
    placed: bool  # True: a hold is placed; False: that hold is released


@dataclass
class ErasureRequest:
    """Erase the application's content at `due` (now for ops, within 30 days for a candidate's own
    request). The reason is stored in the product tables; the workflow carries its id."""

    requested_by: str
    due: datetime
    source: str  # "ops", "candidate" or "retention"
    reason_id: str | None = None
    reason_sha256: str | None = None


@dataclass
class EraseApplication:
    application_id: str
    erased_by: str
    source: str
    at: datetime
    reason_id: str | None = None


# ------------------------------------------------------------------------------------ webhooks


@dataclass
class DeliveryRun:
    """One run of a delivery's workflow: the first, or one more for each manual retry."""

    delivery_id: str
    run: int = 1


@dataclass
class DeliveryAttempt:
    delivery_id: str
    run: int
    number: int  # 1 for the first attempt of the run
    at: datetime  # the workflow's time of the attempt (what the tables record)


@dataclass
class DeliveryOutcome:
    # delivered, retrying, failed (the receiver refused for good: 410), cancelled (the endpoint was
    # disabled or deleted before the attempt)
    status: str
    status_code: int | None = None
    retry_after_seconds: float | None = None  # the receiver's Retry-After, when it gave one
    disabled_endpoint: str | None = None  # this attempt disabled the endpoint: tell ops

    @property
    def final(self) -> bool:
        return self.status != "retrying"
