"""Webhooks: events written in the transaction of the change they describe (an outbox), and the
activities of their delivery.

`emit` is called by the activities that change an application. Inside their transaction it writes
the event, numbered per application, and one delivery per enabled endpoint subscribed to its type,
so an event exists exactly when its change committed and a retried activity emits nothing twice (the
event's `key`). The worker's dispatcher (operations/webhooks.py) starts a workflow per delivery;
`deliver_webhook` makes one attempt and records it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event as sa_event
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from temporalio import activity

from activities.email import EmailActivities, RenderedEmail
from offhours.contracts import DeliveryAttempt, DeliveryOutcome
from offhours.db import session_scope
from offhours.models import (
    Application,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    new_id,
)
from offhours.settings import Settings
from offhours.webhooks import net, signing
from offhours.webhooks.events import EVENT_TYPES, LONGEST_WAIT, wait_after
from offhours.webhooks.secrets import SecretError, unseal

log = logging.getLogger("offhours.webhooks")
# No failed attempt for longer than the longest wait (and a margin for the attempt itself): the
# endpoint was quiet, not failing, and a failure after it starts a new spell.
QUIET = LONGEST_WAIT + timedelta(hours=1)

# Called (from any thread) after a transaction that emitted events commits: the worker's dispatcher
# listens, so deliveries start at once rather than at its next look.
_listeners: list[Callable[[], None]] = []


def on_emitted(listener: Callable[[], None]) -> Callable[[], None]:
    """Register a listener; returns the function that removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def _notify(_session: Any) -> None:
    for listener in list(_listeners):
        with contextlib.suppress(Exception):
            listener()


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def subscribers(session: Session, event_type: str) -> list[WebhookEndpoint]:
    """The enabled endpoints that want this type, read once per transaction (a change can emit
    several events)."""
    endpoints = session.info.get(_ENDPOINTS)
    if endpoints is None:
        endpoints = session.info[_ENDPOINTS] = list(
            session.exec(
                select(WebhookEndpoint).where(
                    col(WebhookEndpoint.enabled).is_(True), col(WebhookEndpoint.deleted_at).is_(None)
                )
            ).all()
        )
    return [e for e in endpoints if event_type in e.events]


_ENDPOINTS = "offhours.webhook_endpoints"


def emit(
    session: Session, application: Application, event_type: str, key: str, at: datetime, **extra: Any
) -> WebhookEvent | None:
    """Write the event and its deliveries in the caller's transaction; nothing if no endpoint wants
    it, or if this key was emitted before (the calling activity is a retry)."""
    assert event_type in EVENT_TYPES, event_type
    # Read without flushing the caller's pending changes: a flush here would take SQLite's write
    # lock early and hold it through the rest of the caller's transaction (events of this
    # transaction are flushed as they are added, so the numbering sees them).
    with session.no_autoflush:
        endpoints = subscribers(session, event_type)
        if not endpoints:
            return None
        seen = session.exec(
            select(WebhookEvent.id).where(
                WebhookEvent.application_id == application.id, WebhookEvent.key == key
            )
        ).first()
        if seen is not None:
            return None
        last = session.exec(
            select(func.max(WebhookEvent.seq)).where(WebhookEvent.application_id == application.id)
        ).one()
    seq = int(last or 0) + 1
    event_id = new_id("evt")
    body = {
        "id": event_id,
        "type": event_type,
        "created_at": iso(at),
        "data": {
            "application_id": application.id,
            "candidate_id": application.candidate_id,
            "job_id": application.job_id,
            "pipeline": {"name": application.pipeline_name, "version": application.pipeline_version},
            "status": str(application.status),
            "stage": application.stage,
            "sequence": seq,
            **extra,
        },
    }
    event = WebhookEvent(
        id=event_id,
        application_id=application.id,
        seq=seq,
        type=event_type,
        key=key,
        body=json.dumps(body, separators=(",", ":")),
        created_at=at,
    )
    session.add(event)
    session.flush()
    for endpoint in endpoints:
        session.add(
            WebhookDelivery(
                id=new_id("dlv"), endpoint_id=endpoint.id, event_id=event_id, event_type=event_type
            )
        )
    if not sa_event.contains(session, "after_commit", _notify):
        sa_event.listen(session, "after_commit", _notify, once=True)
    return event


def origin(url: str) -> str:
    """scheme://host[:port] of an endpoint: its path and query may hold the receiver's token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _short(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


class WebhookActivities:
    def __init__(self, engine: Engine, settings: Settings, email: EmailActivities) -> None:
        self.engine = engine
        self.settings = settings
        self.email = email

    # ------------------------------------------------------------------ one attempt

    def _prepare(self, attempt: DeliveryAttempt) -> tuple[str, bytes, str, list[str]] | DeliveryOutcome:
        """(url, body, event id, secrets) to send with, or the outcome when there is nothing to send."""
        with session_scope(self.engine) as session:
            delivery = session.get(WebhookDelivery, attempt.delivery_id)
            if delivery is None:
                return DeliveryOutcome(status="cancelled")
            if delivery.status == "delivered":
                return DeliveryOutcome(status="delivered", status_code=delivery.last_status_code)
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
            event = session.get(WebhookEvent, delivery.event_id)
            assert event is not None
            if endpoint is None or endpoint.deleted_at is not None or not endpoint.enabled:
                gone = endpoint is None or endpoint.deleted_at is not None
                delivery.status = "cancelled"
                delivery.next_attempt_at = None
                delivery.last_error = "endpoint deleted" if gone else "endpoint disabled"
                session.add(delivery)
                # Disabled by an attempt whose answer never reached its workflow: ops are still
                # told (once: the notice is claimed), by whichever delivery comes next.
                untold = endpoint is not None and not gone and endpoint.disabled_notice is None
                return DeliveryOutcome(
                    status="cancelled", disabled_endpoint=delivery.endpoint_id if untold else None
                )
            secrets_ = [unseal(self.settings, endpoint.id, endpoint.secret_sealed)]
            if (
                endpoint.previous_secret_sealed is not None
                and endpoint.previous_secret_expires_at is not None
                and endpoint.previous_secret_expires_at > attempt.at
            ):
                secrets_.append(unseal(self.settings, endpoint.id, endpoint.previous_secret_sealed))
            return endpoint.url, event.body.encode(), event.id, secrets_

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, attempt: DeliveryAttempt) -> DeliveryOutcome:
        # Heartbeats all along, database work included: a slow database is not a lost worker.
        beating = asyncio.create_task(self._heartbeat())
        try:
            return await self._deliver(attempt)
        finally:
            beating.cancel()

    async def _deliver(self, attempt: DeliveryAttempt) -> DeliveryOutcome:
        try:
            prepared = await asyncio.to_thread(self._prepare, attempt)
        except SecretError as sealed:  # ops must rotate the secret: say so where they look
            return await asyncio.to_thread(self._record, attempt, None, _short(str(sealed)))
        if isinstance(prepared, DeliveryOutcome):
            return prepared
        url, body, event_id, secrets_ = prepared
        # The signature's time is the wall clock's: receivers refuse messages more than a few
        # minutes old, whatever the workflow's own time says.
        headers = signing.headers(secrets_, event_id, int(time.time()), body)
        answer: net.Answer | None = None
        error: str | None = None
        s = self.settings
        try:
            if url.lower().startswith("http://") and not (s.WEBHOOK_ALLOW_PRIVATE or s.is_development):
                # registered while plain http was allowed: signed bodies are not sent in clear
                raise net.RefusedAddress(
                    "plain http is only for development; change the endpoint to https://"
                )
            answer = await net.post(
                url, body, headers, timeout=s.WEBHOOK_TIMEOUT_SECONDS, allow_private=s.WEBHOOK_ALLOW_PRIVATE
            )
        except net.RefusedAddress as refused:
            error = _short(f"refused: {refused}")
        except net.DeliveryFailed as failed:
            error = _short(failed.reason)
        return await asyncio.to_thread(self._record, attempt, answer, error)

    async def _heartbeat(self) -> None:
        """A worker lost mid-request is noticed within the heartbeat timeout, not the request's."""
        while True:
            activity.heartbeat()
            await asyncio.sleep(1)

    def _record(
        self, attempt: DeliveryAttempt, answer: net.Answer | None, error: str | None
    ) -> DeliveryOutcome:
        at = attempt.at
        code = answer.status_code if answer is not None else None
        with session_scope(self.engine) as session:
            delivery = session.get(WebhookDelivery, attempt.delivery_id)
            assert delivery is not None
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
            assert endpoint is not None
            row = session.exec(
                select(WebhookAttempt).where(
                    WebhookAttempt.delivery_id == delivery.id,
                    WebhookAttempt.run == attempt.run,
                    WebhookAttempt.number == attempt.number,
                )
            ).first() or WebhookAttempt(delivery_id=delivery.id, run=attempt.run, number=attempt.number)
            row.at, row.status_code, row.error = at, code, error
            row.elapsed_ms = answer.elapsed_ms if answer is not None else 0
            session.add(row)
            session.flush()
            delivery.attempts = session.exec(
                select(func.count())
                .select_from(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery.id)
            ).one()
            delivery.last_status_code, delivery.last_error, delivery.last_attempt_at = code, error, at
            if code is not None and 200 <= code < 300:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", at, None
                endpoint.failing_since = endpoint.last_failure_at = None
                session.add_all([delivery, endpoint])
                return DeliveryOutcome(status="delivered", status_code=code)
            # A spell of failures: from the first failed attempt after a success, or after a quiet
            # time longer than the schedule's longest wait (no delivery tried in between).
            quiet = endpoint.last_failure_at is None or at - endpoint.last_failure_at > QUIET
            if endpoint.failing_since is None or quiet or endpoint.failing_since > at:
                endpoint.failing_since = at
            endpoint.last_failure_at = max(at, endpoint.last_failure_at or at)
            session.add(endpoint)
            reason: str | None = None
            if code == 410:
                reason = "the receiver answered 410 Gone"
            elif at - endpoint.failing_since >= timedelta(days=self.settings.WEBHOOK_DISABLE_AFTER_DAYS):
                reason = (
                    f"no successful delivery since {iso(endpoint.failing_since)} "
                    f"({self.settings.WEBHOOK_DISABLE_AFTER_DAYS:g} days)"
                )
            if reason is not None:
                disabled_now = self._disable(session, endpoint.id, at, reason)
                delivery.status, delivery.next_attempt_at = "failed", None
                session.add(delivery)
                return DeliveryOutcome(
                    status="failed", status_code=code, disabled_endpoint=endpoint.id if disabled_now else None
                )
            retry_after = answer.retry_after if answer is not None else None
            wait = wait_after(attempt.number, retry_after)
            delivery.status = "retrying" if wait is not None else "failed"
            delivery.next_attempt_at = at + wait if wait is not None else None
            session.add(delivery)
            if wait is None:
                return DeliveryOutcome(status="failed", status_code=code)
            return DeliveryOutcome(status="retrying", status_code=code, retry_after_seconds=retry_after)

    def _disable(self, session: Session, endpoint_id: str, at: datetime, reason: str) -> bool:
        """Disable the endpoint unless it is already: True when this call did it (it tells ops)."""
        changed = session.execute(
            update(WebhookEndpoint)
            .where(col(WebhookEndpoint.id) == endpoint_id, col(WebhookEndpoint.enabled).is_(True))
            .values(
                enabled=False, disabled_at=at, disabled_reason=reason, disabled_notice=None, updated_at=at
            )
            .execution_options(synchronize_session="fetch")
        )
        disabled = bool(changed.rowcount)  # type: ignore[attr-defined]
        if disabled:
            log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
        return disabled

    @activity.defn(name="give_up_webhook_delivery")
    def give_up_webhook_delivery(self, delivery_id: str) -> None:
        """The run ended without a delivery (its last attempt failed or was lost)."""
        with session_scope(self.engine) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is not None and delivery.status in ("pending", "retrying"):
                delivery.status, delivery.next_attempt_at = "failed", None
                session.add(delivery)

    # ------------------------------------------------------------------ telling ops

    def _claim_notice(self, endpoint_id: str) -> tuple[WebhookEndpoint, list[str]] | None:
        with session_scope(self.engine) as session:
            endpoint = session.get(WebhookEndpoint, endpoint_id)
            if endpoint is None or endpoint.enabled or endpoint.disabled_notice == "sent":
                return None
            endpoint.disabled_notice = "pending"
            session.add(endpoint)
            ops = session.exec(
                select(User.email).where(User.role == "ops", col(User.disabled_at).is_(None))
            ).all()
            session.flush()
            session.expunge(endpoint)
            return endpoint, sorted(ops)

    def _mark_notice_sent(self, endpoint_id: str) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                update(WebhookEndpoint)
                .where(col(WebhookEndpoint.id) == endpoint_id)
                .values(disabled_notice="sent")
            )

    @activity.defn(name="notify_webhook_disabled")
    async def notify_webhook_disabled(self, endpoint_id: str) -> int:
        """Email every active ops user that the endpoint was disabled, once; returns how many."""
        claimed = await asyncio.to_thread(self._claim_notice, endpoint_id)
        if claimed is None:
            return 0
        endpoint, recipients = claimed
        if not recipients:
            log.warning("webhook endpoint %s disabled and no active ops user to tell", endpoint_id)
            return 0
        assert endpoint.disabled_at is not None
        context = {
            "endpoint_id": endpoint.id,
            "url": origin(endpoint.url),
            "description": endpoint.description,
            "reason": endpoint.disabled_reason or "",
            "disabled_at": iso(endpoint.disabled_at),
            "page": f"{self.settings.PUBLIC_URL}/staff/webhooks/{endpoint.id}",
        }
        texts, htmls = self.email.text_templates, self.email.html_templates
        subject = texts.get_template("emails/webhook_disabled.subject.txt").render(context).strip()
        stamp = int(endpoint.disabled_at.timestamp())
        message_id = f"<webhook-disabled.{endpoint.id}.{stamp}@{self.email.domain}>"
        rendered = RenderedEmail(
            recipient=", ".join(recipients),
            subject=subject,
            text=texts.get_template("emails/webhook_disabled.txt").render(context),
            html=htmls.get_template("emails/webhook_disabled.html").render(context),
        )

        async def sent() -> None:
            await asyncio.to_thread(self._mark_notice_sent, endpoint_id)

        await self.email.deliver(self.email.build(rendered, message_id), accepted=sent)
        return len(recipients)
