"""Outbound webhooks: the endpoints ops register, the events the product emits (written in the same
transaction as the change they describe), one delivery per endpoint and event, and each attempt.

No personal data: events carry ids, stages, statuses and outcomes; a receiver fetches details through
the API with a token. Endpoint secrets are stored sealed with the master key (offhours/webhooks/secrets)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Column, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from offhours.models.base import _ts


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"

    id: str = Field(primary_key=True, max_length=40)
    url: str = Field(sa_column=Column(String(2000), nullable=False))
    description: str = Field(default="", sa_column=Column(String(500), nullable=False, server_default=""))
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    enabled: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default="1"))
    secret_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # After a rotation the previous secret signs too, until it expires (both signatures are sent).
    previous_secret_sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    previous_secret_expires_at: datetime | None = _ts(nullable=True)
    created_by: str = Field(default="", max_length=200)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    # Failing without a success since then; disabled after WEBHOOK_DISABLE_AFTER_DAYS, or on a 410.
    failing_since: datetime | None = _ts(nullable=True)
    # The latest failed attempt: a failure long after it (no attempt between) starts a new spell.
    last_failure_at: datetime | None = _ts(nullable=True)
    disabled_at: datetime | None = _ts(nullable=True)
    disabled_reason: str | None = Field(default=None, max_length=300)
    # The email telling ops it was disabled: None, "pending" (being sent), "sent".
    disabled_notice: str | None = Field(default=None, max_length=16)
    deleted_at: datetime | None = _ts(nullable=True)


class WebhookEvent(SQLModel, table=True):
    """One event about one application, numbered per application. `key` makes emitting idempotent:
    a retried activity finds its event there and emits nothing."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("application_id", "seq", name="uq_webhook_event_seq"),
        UniqueConstraint("application_id", "key", name="uq_webhook_event_key"),
    )

    id: str = Field(primary_key=True, max_length=40)
    application_id: str = Field(max_length=40, index=True)
    seq: int
    type: str = Field(max_length=64)
    key: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))  # the JSON sent, byte for byte
    created_at: datetime = _ts(index=True)


class WebhookDelivery(SQLModel, table=True):
    """An event on its way to one endpoint. Written with the event; the dispatcher starts its
    workflow (`dispatched_at`); the workflow records each attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_delivery"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_deliveries_undispatched", "dispatched_at", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    endpoint_id: str = Field(foreign_key="webhook_endpoints.id", max_length=40)
    event_id: str = Field(foreign_key="webhook_events.id", max_length=40, index=True)
    event_type: str = Field(max_length=64)
    # pending (not tried yet), retrying, delivered, failed (gave up), cancelled (endpoint gone or off)
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=300)
    last_attempt_at: datetime | None = _ts(nullable=True)
    next_attempt_at: datetime | None = _ts(nullable=True)
    delivered_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    dispatched_at: datetime | None = _ts(nullable=True)
    # Workflow runs of this delivery: 1 for the first, one more for each manual retry.
    runs: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "run", "number", name="uq_webhook_attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(foreign_key="webhook_deliveries.id", max_length=40, index=True)
    run: int = 1
    number: int
    at: datetime = _ts()
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=300)
    elapsed_ms: int = 0
