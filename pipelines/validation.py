"""The rules a pipeline must keep, checked when it is loaded: each problem names the pipeline and
the stage, and all of them are listed at once."""

from __future__ import annotations

import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from pipelines.people import Person, Pool
from pipelines.stages import (
    CANDIDATE_STAGES,
    RECORDED,
    Assessment,
    Custom,
    Decision,
    Feedback,
    Interview,
    Invite,
    Onboarding,
    Review,
    Scheduling,
    Stage,
)

if typing.TYPE_CHECKING:
    from pipelines.base import Pipeline


class Validator:
    def __init__(
        self,
        pipeline: Pipeline,
        people: Mapping[str, Person] | None,
        pools: Mapping[str, Pool] | None,
        custom_activities: Collection[str] | None,
        templates_dir: Path | None,
        custom_workflows: Collection[str] | None = None,
    ) -> None:
        self.p = pipeline
        self.custom_workflows = custom_workflows
        self.people = people
        self.pools = pools
        self.custom = custom_activities
        self.templates = templates_dir
        self.problems: list[str] = []
        self.where = f"pipeline '{pipeline.name}'"

    def fail(self, message: str, index: int | None = None, stage: Stage | None = None) -> None:
        where = (
            self.where if index is None or stage is None else f"{self.where}, stage {index} ({stage.kind})"
        )
        self.problems.append(f"{where}: {message}")

    def run(self) -> list[str]:
        p = self.p
        if not p.name or not p.name.replace("-", "").replace("_", "").isalnum() or p.name != p.name.lower():
            self.fail("name must be lower-case letters, digits, '-' or '_'")
        if not p.title.strip():
            self.fail("title must not be empty")
        if not p.stages:
            self.fail("needs at least one stage")
            return self.problems
        if not isinstance(p.stages[0], Invite):
            self.fail(f"the first stage must be invite, not {p.stages[0].kind}")
        ids = [s.id for s in p.stages]
        for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
            self.fail(f"stage id '{duplicate}' is used twice; give each stage its own id")
        question_ids = [q.id for s in p.stages if isinstance(s, Interview | Assessment) for q in s.questions]
        for duplicate in sorted({i for i in question_ids if question_ids.count(i) > 1}):
            self.fail(f"question id '{duplicate}' is used twice; question ids must be unique in a pipeline")
        if p.contact is not None:
            self.person(p.contact, "contact")
        if p.check_in is not None and (p.check_in.promised_response <= 0 or p.check_in.every <= 0):
            self.fail("check_in: promised_response and every must be positive")
        checks: dict[type, Callable[[int, Any], None]] = {
            Invite: self.invite,
            Interview: self.interview,
            Assessment: self.assessment,
            Review: self.review,
            Feedback: self.feedback,
            Decision: self.decision,
            Scheduling: self.scheduling,
            Onboarding: self.onboarding,
            Custom: self.custom_stage,
        }
        for index, stage in enumerate(p.stages, start=1):
            if index > 1 and isinstance(stage, Invite):
                self.fail("only the first stage may be an invite", index, stage)
                continue
            checks[type(stage)](index, stage)
        if not any(s.kind in CANDIDATE_STAGES for s in p.stages):
            self.fail("needs an interview or an assessment for the candidate to complete")
        return self.problems

    def before(self, index: int, kinds: tuple[str, ...]) -> bool:
        return any(s.kind in kinds for s in self.p.stages[: index - 1])

    def person(self, person_id: str, what: str, index: int | None = None, stage: Stage | None = None) -> None:
        if self.people is not None and person_id not in self.people:
            self.fail(
                f"{what} '{person_id}' is not in the staff directory (pipelines/people.py)", index, stage
            )

    def template(self, name: str, index: int, stage: Stage) -> None:
        if self.templates is not None and not (self.templates / "emails" / f"{name}.txt").exists():
            self.fail(f"email template '{name}' does not exist in templates/emails/", index, stage)

    def invite(self, i: int, s: Invite) -> None:
        if s.deadline <= 0:
            self.fail("deadline must be positive", i, s)
        for offset in s.reminders.before_deadline:
            if not 0 < offset < s.deadline:
                self.fail(
                    f"reminder {offset}s before the deadline falls outside the {s.deadline}s allowed", i, s
                )
        for offset in s.reminders.after_invite:
            if not 0 < offset < s.deadline:
                self.fail(
                    f"reminder {offset}s after the invite falls outside the {s.deadline}s allowed", i, s
                )
        if len(set(s.reminders.before_deadline)) != len(s.reminders.before_deadline):
            self.fail("two reminders at the same time", i, s)
        if s.extensions.auto_grant < 0 or s.extensions.max_total < s.extensions.auto_grant:
            self.fail("extensions: need 0 <= auto_grant <= max_total", i, s)

    def interview(self, i: int, s: Interview) -> None:
        if not s.questions:
            self.fail("needs at least one question", i, s)
        for q in s.questions:
            what = f"question '{q.id}'"
            if not q.id or not q.prompt.strip():
                self.fail(f"{what}: needs an id and a prompt", i, s)
            if q.type == "choice":
                if len(q.choices) < 2 or len(set(q.choices)) != len(q.choices):
                    self.fail(f"{what}: a choice question needs at least two different choices", i, s)
            elif q.choices:
                self.fail(f"{what}: only choice questions have choices", i, s)
            if q.think_time is not None:
                if q.think_time <= 0:
                    self.fail(f"{what}: think_time must be positive", i, s)
                if q.retakes:
                    self.fail(f"{what}: limited think time allows one take; set retakes=0", i, s)
            if q.retakes is not None and (q.retakes < 0 or q.type not in RECORDED):
                self.fail(f"{what}: retakes apply to video and audio answers and cannot be negative", i, s)
            if q.answer_time_limit is not None and (q.answer_time_limit <= 0 or q.type in ("choice", "file")):
                self.fail(
                    f"{what}: answer_time_limit must be positive and applies to video, audio and text", i, s
                )

    def assessment(self, i: int, s: Assessment) -> None:
        if not s.questions:
            self.fail("needs at least one question", i, s)
        if not 0 < s.pass_mark <= 1:
            self.fail(f"pass_mark is a share of the points between 0 and 1, got {s.pass_mark}", i, s)
        if s.time_limit <= 0:
            self.fail("time_limit must be positive", i, s)
        for q in s.questions:
            what = f"question '{q.id}'"
            if q.points < 1:
                self.fail(f"{what}: points must be at least 1", i, s)
            if q.type == "choice" and q.answer not in q.choices:
                self.fail(f"{what}: the answer '{q.answer}' is not one of its choices", i, s)
            if q.type == "numeric":
                try:
                    float(q.answer)
                except ValueError:
                    self.fail(f"{what}: a numeric answer must be a number, got '{q.answer}'", i, s)
                if q.tolerance < 0:
                    self.fail(f"{what}: tolerance cannot be negative", i, s)
            if q.type == "exact" and not q.answer.strip():
                self.fail(f"{what}: the expected answer is empty", i, s)

    def review(self, i: int, s: Review) -> None:
        if not self.before(i, CANDIDATE_STAGES):
            self.fail("comes before anything to review; put it after an interview or assessment", i, s)
        if s.reviewers < 1:
            self.fail("needs at least one reviewer", i, s)
        self.review_pool(i, s)
        self.review_criteria(i, s)
        if not 0 < s.reminder_before_sla < s.sla:
            self.fail("need 0 < reminder_before_sla < sla", i, s)
        if s.max_reassignments < 0:
            self.fail("max_reassignments cannot be negative", i, s)
        for name, value in (
            ("auto_advance_at", s.auto_advance_at),
            ("auto_reject_below", s.auto_reject_below),
        ):
            if value is not None and not 1 <= value <= 5:
                self.fail(f"{name} is a score between 1 and 5, got {value}", i, s)
        if (
            s.auto_advance_at is not None
            and s.auto_reject_below is not None
            and s.auto_reject_below > s.auto_advance_at
        ):
            self.fail("auto_reject_below must not be above auto_advance_at", i, s)

    def review_pool(self, i: int, s: Review) -> None:
        if self.pools is None:
            return
        pool = self.pools.get(s.pool)
        if pool is None:
            self.fail(f"pool '{s.pool}' does not exist; known pools: {', '.join(sorted(self.pools))}", i, s)
            return
        if s.reviewers > len(pool.members):
            self.fail(f"needs {s.reviewers} reviewers but pool '{s.pool}' has {len(pool.members)}", i, s)
        for member in pool.members:
            self.person(member, f"pool '{s.pool}' member", i, s)

    def review_criteria(self, i: int, s: Review) -> None:
        if not s.criteria:
            self.fail("needs at least one rubric criterion", i, s)
        ids = [c.id for c in s.criteria]
        if len(set(ids)) != len(ids):
            self.fail(f"criterion ids must be unique, got {ids}", i, s)
        for c in s.criteria:
            if len(c.anchors) != 5 or not all(a.strip() for a in c.anchors):
                self.fail(f"criterion '{c.id}' needs a behavioural anchor for each level 1 to 5", i, s)
            if c.weight <= 0:
                self.fail(f"criterion '{c.id}': weight must be positive", i, s)

    def feedback(self, i: int, s: Feedback) -> None:
        if not self.before(i, ("review",)):
            self.fail("needs a review before it: feedback is built from the scorecards", i, s)

    def decision(self, i: int, s: Decision) -> None:
        if s.approvals_required < 1:
            self.fail("approvals_required must be at least 1", i, s)
        if s.approvers:
            if s.approvals_required > len(s.approvers):
                self.fail(
                    f"needs {s.approvals_required} approvals but names {len(s.approvers)} approvers", i, s
                )
            for approver in s.approvers:
                self.person(approver, "approver", i, s)
        elif s.approvals_required > 1:
            self.fail("N-of-M approvals need the approvers named", i, s)
        codes = [r.code for r in s.reason_codes]
        if len(set(codes)) != len(codes):
            self.fail(f"reason codes must be unique, got {codes}", i, s)
        for decision in ("approve", "reject"):
            if not any(r.decision == decision for r in s.reason_codes):
                self.fail(f"needs at least one reason code for {decision}", i, s)
        for reason in s.reason_codes:
            self.template(reason.template, i, s)
        if s.sla is not None and not 0 < s.reminder_before_sla < s.sla:
            self.fail("need 0 < reminder_before_sla < sla", i, s)
        if s.escalate_to is not None:
            self.person(s.escalate_to, "escalate_to", i, s)
            if s.sla is None:
                self.fail("escalate_to needs an sla", i, s)

    def scheduling(self, i: int, s: Scheduling) -> None:
        for name in ("duration_minutes", "offer_within", "pick_within", "reminder_before_slot"):
            if getattr(s, name) <= 0:
                self.fail(f"{name} must be positive", i, s)

    def onboarding(self, i: int, s: Onboarding) -> None:
        if not self.before(i, ("decision", "review")):
            self.fail("onboarding follows a hire: put it after a decision", i, s)
        if not s.modules:
            self.fail("needs at least one module", i, s)
        ids = [m.id for m in s.modules]
        if len(set(ids)) != len(ids):
            self.fail(f"module ids must be unique, got {ids}", i, s)
        for m in s.modules:
            if m.due <= s.reminder_before_due:
                self.fail(f"module '{m.id}' is due before its reminder could be sent", i, s)

    def custom_stage(self, i: int, s: Custom) -> None:
        if bool(s.activity) == bool(s.workflow):
            self.fail("names an activity or a workflow: exactly one of the two", i, s)
        elif s.workflow:
            if self.custom_workflows is not None and s.workflow not in self.custom_workflows:
                known = ", ".join(sorted(self.custom_workflows)) or "none"
                self.fail(
                    f"workflow '{s.workflow}' is not registered in pipelines/custom.py (registered: {known})",
                    i,
                    s,
                )
        elif self.custom is not None and s.activity not in self.custom:
            known = ", ".join(sorted(self.custom)) or "none"
            self.fail(
                f"activity '{s.activity}' is not registered in pipelines/custom.py (registered: {known})",
                i,
                s,
            )
        if s.timeout <= 0:
            self.fail("timeout must be positive", i, s)


# ----------------------------------------------------------------------------------- snapshots
