"""Who may see what, and who acts as whom: the jobs and applications a member of staff may open,
whether a candidate's identity is hidden from them, and how they are named in workflow histories."""

from __future__ import annotations

from sqlmodel import Session, col, select

from api.deps import Principal
from api.errors import Forbidden, NotFound
from offhours.models import Application, Job, JobMember, ReviewAssignment
from pipelines.base import pipeline_from_snapshot
from pipelines.stages import Review

# A reviewer keeps access while the review is theirs: open, or scored (to see the others' scores).
# Taken off it ("reassigned" after the SLA), or any status added later, they lose it.
REVIEWING = ("assigned", "completed")


def load_application(session: Session, application_id: str, staff: Principal | None = None) -> Application:
    """The application, if it exists and `staff` may see it: a recruiter only on the jobs they are on,
    a reviewer only what is assigned to them and not taken off them (others get the same 404 as for
    an unknown id; a reviewer whose review was reassigned is told so)."""
    application = session.get(Application, application_id)
    if application is None or (staff is not None and not visible(session, staff, application)):
        ended = _statuses(session, staff, application) if application and staff else []
        if "reassigned" in ended:
            raise Forbidden(
                f"your review of application '{application_id}' was reassigned to another reviewer "
                "(it was not scored in time); you no longer have access to it"
            )
        if ended:
            raise Forbidden(
                f"your review of application '{application_id}' has ended ({', '.join(ended)}); "
                "you no longer have access to it"
            )
        raise NotFound(f"no application with id '{application_id}'")
    return application


def visible(session: Session, staff: Principal, application: Application) -> bool:
    if staff.sees_every_job:
        return True
    if staff.role == "reviewer":
        return any(status in REVIEWING for status in _statuses(session, staff, application))
    return application.job_id in member_job_ids(session, staff)


def _statuses(session: Session, staff: Principal, application: Application) -> list[str]:
    """The statuses of a reviewer's assignments on the application (none for other roles)."""
    if staff.role != "reviewer":
        return []
    return list(
        session.exec(
            select(ReviewAssignment.status).where(
                ReviewAssignment.application_id == application.id,
                ReviewAssignment.reviewer == (staff.person_id or ""),
            )
        ).all()
    )


def member_job_ids(session: Session, staff: Principal) -> set[str]:
    return set(session.exec(select(JobMember.job_id).where(JobMember.user_id == (staff.user_id or ""))).all())


def load_job(session: Session, job_id: str, staff: Principal) -> Job:
    """The job, if `staff` may see it (recruiters: the jobs they are on; others get a 404 too)."""
    job = session.get(Job, job_id)
    if job is None or not (staff.sees_every_job or is_member(session, job.id, staff)):
        raise NotFound(f"no job with id '{job_id}'")
    return job


def is_member(session: Session, job_id: str, staff: Principal) -> bool:
    query = select(JobMember.id).where(JobMember.job_id == job_id, JobMember.user_id == (staff.user_id or ""))
    return session.exec(query).first() is not None


def visible_jobs(session: Session, staff: Principal) -> list[Job]:
    """The jobs `staff` may see, newest first."""
    query = select(Job).order_by(col(Job.created_at).desc())
    if not staff.sees_every_job:
        query = query.where(col(Job.id).in_(member_job_ids(session, staff)))
    return list(session.exec(query))


def hides_identity(staff: Principal, application: Application) -> bool:
    """Whether `staff` must not learn who the candidate is (name, email, time zone, own file names):
    a reviewer (the role) on a pipeline with a blind review, whatever stage they review. Other roles
    may read the whole application anyway; a reviewer on a pipeline without a blind review sees it."""
    if staff.role != "reviewer":
        return False
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    return any(isinstance(stage, Review) and stage.blind for stage in pipeline.stages)


def acting_as(staff: Principal, named: str | None, what: str) -> str | None:
    """The directory id a scorecard or an approver's vote is recorded under: only staff linked to the
    staff directory score or vote, and only as themselves. An account without a directory entry
    (ADMIN_TOKEN included) may take a decision that needs no approver's vote, and nothing more."""
    if staff.person_id is None:
        if what == "vote" and not named:
            return None  # a plain decision: the workflow asks for an approver where one is needed
        raise Forbidden(
            f"your account is not linked to the staff directory, so it cannot {what}"
            + (f" (as '{named}')" if named else "")
            + "; ops link an account with `offhours users create --person-id <id>`"
        )
    if named and named != staff.person_id:
        raise Forbidden(f"you can only {what} as yourself ('{staff.person_id}'), not as '{named}'")
    return staff.person_id


def recorded_as(principal: Principal) -> str:
    """How a member of staff is named in workflow histories: role and user id, never an email."""
    return f"{principal.role}:{principal.name}"
