"""Webhook endpoints and their deliveries, as ops see them through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import Strict

EventType = Literal[
    "application.created",
    "application.submitted",
    "application.stage_changed",
    "scorecard.submitted",
    "decision.made",
    "application.closed",
    "application.erased",
]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class WebhookCreate(Strict):
    url: Url = Field(description="Where events are POSTed: https, on a public address")
    events: list[EventType] = Field(min_length=1, max_length=20, description="The event types to send")
    description: Description = ""


class WebhookUpdate(Strict):
    url: Url | None = None
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=20)
    description: Description | None = None
    enabled: bool | None = Field(default=None, description="false stops deliveries; true resumes them")


class SecretRotation(Strict):
    overlap_hours: int | None = Field(
        default=None, ge=0, le=168, description="How long the previous secret keeps signing (default 24)"
    )


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the previous secret signs too (after a rotation)"
    )


class WebhookWithSecret(WebhookPublic):
    secret: str = Field(description="whsec_...: shown once; verify each delivery with it")


class AttemptPublic(BaseModel):
    run: int
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    elapsed_ms: int


class DeliveryPublic(BaseModel):
    id: str
    endpoint_id: str
    event_id: str = Field(description="The webhook-id header: the same on every attempt")
    event_type: str
    status: Literal["pending", "retrying", "delivered", "failed", "cancelled"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptPublic] = Field(default_factory=list)


class DeliveryRetryPublic(BaseModel):
    delivery: DeliveryPublic
    action: Literal["woken", "started"] = Field(
        description="woken: the waiting run attempts now; started: a new run began"
    )
