"""Workflow ids, spelled in one place. None carries personal data: only the product's opaque ids
(offhours.models.new_id), a stage's id from the pipeline, and a sequence number. Pure functions, so
that workflow code may use them too (the same ids for every replay)."""

from __future__ import annotations

APPLICATION = "application-"


def application_workflow(application_id: str) -> str:
    """The application's own workflow (one run per application, ever)."""
    return f"{APPLICATION}{application_id}"


def application_of(workflow_id: str) -> str:
    """The application id an application workflow id names (an application id passes through)."""
    return workflow_id.removeprefix(APPLICATION)


def privacy_workflow(application_id: str) -> str:
    """The application's retention and erasure workflow."""
    return f"privacy-{application_id}"


def review_task_workflow(application_id: str, stage_id: str, sequence: int) -> str:
    """One reviewer's task on a review stage: numbered across the application's tasks."""
    return f"{review_task_prefix(application_id)}{stage_id}-{sequence}"


def review_task_prefix(application_id: str) -> str:
    return f"review-{application_id}-"


def notice_workflow(key: str) -> str:
    """A Notice: emails sent outside the application's workflow (a message, a resent invitation,
    a deletion request), keyed by what they are about."""
    return f"notice-{key}"


def custom_stage_workflow(application_id: str, stage_id: str) -> str:
    """A custom stage run as a child workflow of the application (a reference check)."""
    return f"custom-{application_id}-{stage_id}"


def webhook_delivery_workflow(delivery_id: str, run: int = 1) -> str:
    """One run of a webhook delivery (a manual retry after it ended starts the next run)."""
    return f"webhook-{delivery_id}-{run}"
