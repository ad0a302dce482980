"""One webhook delivery: an event on its way to one endpoint, attempted until the receiver answers
2xx, on the retry schedule of offhours/webhooks/events.py (or the receiver's Retry-After), ten attempts
over about three days. Its input is two ids: what is sent is read by the activity, so no payload of
this workflow holds anything but ids, codes and times.

An attempt lost with its worker (no heartbeat) counts as a failed attempt and the next one follows
on the schedule, with the same `webhook-id`: receivers de-duplicate on it. A `retry_now` signal (a
manual retry from ops) cuts the current wait short."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import DeliveryAttempt, DeliveryOutcome, DeliveryRun
    from offhours.webhooks.events import MAX_ATTEMPTS, wait_after

from workflows.emails import EMAIL_RETRY

# The request itself is bounded by WEBHOOK_TIMEOUT_SECONDS (at most 60); the activity heartbeats
# every second, so a lost worker is noticed in 10 s.
ATTEMPT_TIMEOUT = timedelta(seconds=90)
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
BOOKKEEPING = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn(name="WebhookDelivery")
class WebhookDeliveryWorkflow:
    def __init__(self) -> None:
        self._now = False

    @workflow.signal(name="retry_now")
    def retry_now(self) -> None:
        self._now = True

    @workflow.run
    async def run(self, request: DeliveryRun) -> str:
        for number in range(1, MAX_ATTEMPTS + 1):
            # A retry asked for during this attempt wakes the wait that follows it.
            self._now = False
            outcome = await self._attempt(request, number)
            if outcome.disabled_endpoint is not None:
                await self._tell_ops(outcome.disabled_endpoint)
            if outcome.final:
                return outcome.status
            wait = wait_after(number, outcome.retry_after_seconds)
            if wait is None:
                break
            with contextlib.suppress(TimeoutError):  # the wait is over, or ops asked for an attempt now
                await workflow.wait_condition(lambda: self._now, timeout=wait)
        await workflow.execute_activity(
            "give_up_webhook_delivery",
            request.delivery_id,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=BOOKKEEPING,
        )
        return "failed"

    async def _tell_ops(self, endpoint_id: str) -> None:
        try:
            await workflow.execute_activity(
                "notify_webhook_disabled",
                endpoint_id,
                result_type=int,
                start_to_close_timeout=timedelta(seconds=90),
                schedule_to_close_timeout=timedelta(days=1),
                retry_policy=EMAIL_RETRY,
            )
        except ActivityError as error:  # the relay away for a day: the endpoint's page still says it
            workflow.logger.warning(
                "ops could not be told endpoint %s was disabled: %s", endpoint_id, error.cause
            )

    async def _attempt(self, request: DeliveryRun, number: int) -> DeliveryOutcome:
        attempt = DeliveryAttempt(request.delivery_id, request.run, number, workflow.now())
        try:
            outcome: DeliveryOutcome = await workflow.execute_activity(
                "deliver_webhook",
                attempt,
                result_type=DeliveryOutcome,
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                # one try per attempt: the schedule above is the retry policy
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
            return outcome
        except ActivityError as error:
            workflow.logger.warning(
                "webhook attempt %d of %s lost: %s", number, request.delivery_id, error.cause
            )
            return DeliveryOutcome(status="retrying")
