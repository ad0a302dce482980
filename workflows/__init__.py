"""Deterministic workflow code: no I/O, clocks, randomness or database access in this package."""

from workflows.application import ApplicationWorkflow
from workflows.custom import ReferenceCheckWorkflow
from workflows.notice import NoticeWorkflow
from workflows.privacy import PrivacyWorkflow
from workflows.review_task import ReviewTaskWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow

WORKFLOWS = [
    ApplicationWorkflow,
    ReviewTaskWorkflow,
    ReferenceCheckWorkflow,
    NoticeWorkflow,
    PrivacyWorkflow,
    WebhookDeliveryWorkflow,
]

__all__ = [
    "WORKFLOWS",
    "ApplicationWorkflow",
    "NoticeWorkflow",
    "PrivacyWorkflow",
    "ReferenceCheckWorkflow",
    "ReviewTaskWorkflow",
    "WebhookDeliveryWorkflow",
]
