"""The invitation: the invite email, the candidate's deadline and the reminders before it, the link
being opened, and extensions of the deadline (asked by the candidate or given by a recruiter)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import (
        ApplicationState,
        DeadlineExtension,
        ExtensionDecision,
        ExtensionRequest,
        LinkOpened,
    )
    from offhours.durations import in_words
    from pipelines.stages import Invite

from ..base import ACCEPTS_ANSWERS, ApplicationBase, Status, conflict, invalid


class InviteStage(ApplicationBase):
    async def _run_invite(self, stage: Invite) -> None:  # noqa: ARG002 (the stage table gives every runner its stage)
        invite = self._pipeline.invite
        self._invite.invited_at = workflow.now()
        self._deadline = self._invite.invited_at + timedelta(seconds=invite.deadline)
        await self._record_status(Status.invited, stage_id=invite.id)
        await self._email("invite", "invite")
        self._invite.reminder_task = asyncio.create_task(self._remind_candidate())

    async def _remind_candidate(self) -> None:
        """Reminders while the candidate has not finished: before the (possibly extended) deadline
        and after the invitation. Each reminder goes out at most once."""
        reminders = self._pipeline.invite.reminders
        invited_at = self._invite.invited_at
        sent = self._invite.reminders_sent
        assert invited_at is not None
        while not self._candidate_phase_over():
            deadline = self._deadline
            assert deadline is not None
            now = workflow.now()
            due: list[tuple[datetime, str, int]] = []
            for offset in reminders.before_deadline:
                due.append((deadline - timedelta(seconds=offset), f"reminder-{offset}", offset))
            for offset in reminders.after_invite:
                at = invited_at + timedelta(seconds=offset)
                due.append((at, f"reminder-after-{offset}", int((deadline - at).total_seconds())))
            upcoming = sorted(d for d in due if d[1] not in sent and d[0] > now)
            if not upcoming:
                await workflow.wait_condition(
                    lambda d=deadline: self._candidate_phase_over() or self._deadline != d  # type: ignore[misc]
                )
                continue
            at, key, left = upcoming[0]
            try:
                await workflow.wait_condition(
                    lambda d=deadline: self._candidate_phase_over() or self._deadline != d,  # type: ignore[misc]
                    timeout=(at - now).total_seconds(),
                )
                continue  # finished, or the deadline moved: recompute
            except TimeoutError:
                pass
            await self._email(key, "reminder", time_left=in_words(max(left, 0)))
            sent.append(key)

    @workflow.signal(name="link_opened")
    async def link_opened(self) -> None:
        """Fire-and-forget: the candidate opened their link (the first time counts)."""
        if self._opened_at is not None:
            return
        self._opened_at = workflow.now()
        await self._db("record_link_opened", LinkOpened(self._input.application_id, self._opened_at))

    # ---------------------------------------------------------------------------- extensions

    @workflow.update(name="request_extension")
    async def request_extension(self, request: ExtensionRequest) -> ApplicationState:
        self._extensions.requests += 1
        rules = self._pipeline.invite.extensions
        if self._extensions.granted_seconds + request.seconds <= rules.auto_grant:
            await self._grant(request.seconds, decided_by="auto")
        else:
            self._extensions.pending = request
            contact = self._pipeline.contact
            if contact:
                await self._email(
                    f"extension-request-{self._extensions.requests}",
                    "extension_requested",
                    to_staff=contact,
                    requested=in_words(request.seconds),
                    reason=request.reason or "",
                    reason_id=request.reason_id or "",
                )
        return self.state()

    @request_extension.validator
    def _validate_extension_request(self, request: ExtensionRequest) -> None:
        if request.seconds <= 0:
            raise invalid("an extension must be a positive number of seconds")
        if self._candidate_phase_over() or self._status not in ACCEPTS_ANSWERS:
            raise conflict(f"the application is {self._status}; extensions apply before submitting")
        if self._deadline is not None and workflow.now() >= self._deadline:
            raise conflict("the deadline has already passed")
        if self._extensions.pending is not None:
            raise conflict("an extension request is already waiting for the recruiter")
        rules = self._pipeline.invite.extensions
        if self._extensions.granted_seconds + request.seconds > rules.max_total:
            left = max(rules.max_total - self._extensions.granted_seconds, 0)
            raise conflict(
                f"this pipeline allows at most {in_words(rules.max_total)} of extensions in total; "
                f"{in_words(left) if left else 'none'} left"
            )

    @workflow.update(name="decide_extension")
    async def decide_extension(self, decision: ExtensionDecision) -> ApplicationState:
        request = self._extensions.pending
        assert request is not None  # the validator refused the update otherwise
        self._extensions.pending = None
        if decision.grant:
            await self._grant(request.seconds, decided_by=decision.decided_by)
        else:
            await self._email(f"extension-refused-{self._extensions.requests}", "extension_refused")
        return self.state()

    @decide_extension.validator
    def _validate_decide_extension(self, decision: ExtensionDecision) -> None:  # noqa: ARG002 (a validator takes its update's arguments)
        if self._extensions.pending is None:
            raise conflict("no extension request is waiting")

    @workflow.update(name="extend_deadline")
    async def extend_deadline(self, extension: DeadlineExtension) -> ApplicationState:
        """A recruiter gives more time without being asked (or beyond what the pipeline lets a
        candidate ask for). A request still waiting is answered by it."""
        self._extensions.requests += 1  # numbers the email, like a request's
        self._extensions.pending = None
        await self._grant(extension.seconds, decided_by=extension.decided_by)
        return self.state()

    @extend_deadline.validator
    def _validate_extend(self, extension: DeadlineExtension) -> None:
        if not 3600 <= extension.seconds <= 30 * 86400:
            raise invalid("extend by at least one hour and at most 30 days")
        if self._closed() or self._status not in ACCEPTS_ANSWERS or self._candidate_phase_over():
            raise conflict(f"the application is {self._status}: there is no candidate deadline to extend")

    async def _grant(self, seconds: int, decided_by: str) -> None:
        assert self._deadline is not None
        self._extensions.granted_seconds += seconds
        self._deadline = self._deadline + timedelta(seconds=seconds)
        await self._record_status(self._status)
        await self._email(
            f"extension-granted-{self._extensions.requests}", "extension_granted", decided_by=decided_by
        )
