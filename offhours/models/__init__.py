"""Product tables (SQLModel). A read model of the workflows plus the content they collect.

The Temporal history is the record of the process; these rows are written by idempotent activities
(upserts keyed by application id and step) and by the API before a workflow starts.

One module per part: base (ids, timestamps), applications, staff, records, analytics, webhooks."""

from offhours.models.analytics import (
    RACE_ETHNICITY,
    SEX,
    AnalyticsCounter,
    RollupState,
    ScorecardRating,
    SelfIdentification,
    StageTransition,
)
from offhours.models.applications import (
    Answer,
    Application,
    AssessmentResult,
    Booking,
    Candidate,
    CandidateFeedback,
    ContactMessage,
    DeletionRequest,
    EmailMessage,
    Job,
    ModuleProgress,
    ReviewAssignment,
    Scorecard,
    invited_as,
)
from offhours.models.base import (
    UTCDateTime,
    new_id,
    utcnow,
)
from offhours.models.records import (
    DataKey,
    HistoryArchive,
    IdempotentRequest,
    LegalHold,
    PersonalText,
)
from offhours.models.staff import (
    ApiToken,
    JobMember,
    User,
    WebSession,
)
from offhours.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "RACE_ETHNICITY",
    "SEX",
    "AnalyticsCounter",
    "Answer",
    "ApiToken",
    "Application",
    "AssessmentResult",
    "Booking",
    "Candidate",
    "CandidateFeedback",
    "ContactMessage",
    "DataKey",
    "DeletionRequest",
    "EmailMessage",
    "HistoryArchive",
    "IdempotentRequest",
    "Job",
    "JobMember",
    "LegalHold",
    "ModuleProgress",
    "PersonalText",
    "ReviewAssignment",
    "RollupState",
    "Scorecard",
    "ScorecardRating",
    "SelfIdentification",
    "StageTransition",
    "UTCDateTime",
    "User",
    "WebSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "invited_as",
    "new_id",
    "utcnow",
]
