"""The candidate's voluntary self-identification (sex, race/ethnicity in the EEO-1 categories).

Offered once the application is submitted, stored in its own table (never in a workflow, an email,
a webhook or a staff view), answered again to change it, and erased with the application. Analytics
read it only in aggregates (operations/analytics)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from activities.rollups import tracked
from api.errors import Conflict
from offhours.models import Application, SelfIdentification, utcnow


def offered(application: Application) -> bool:
    """The form is offered after submission (before it, answering would look like part of the
    application)."""
    return application.submitted_at is not None and application.erased_at is None


def current(session: Session, application: Application) -> SelfIdentification | None:
    return session.get(SelfIdentification, application.id)


def record(session: Session, application: Application, sex: str, race_ethnicity: str) -> SelfIdentification:
    if not offered(application):
        raise Conflict(
            "self-identification is offered once your application is submitted; submit it first",
            status=application.status,
        )
    try:
        return _store(session, application, sex, race_ethnicity)
    except IntegrityError:  # the same form sent twice at once: the later answer stands
        session.rollback()
        return _store(session, application, sex, race_ethnicity)


def _store(session: Session, application: Application, sex: str, race_ethnicity: str) -> SelfIdentification:
    with tracked(session, application.id):  # the adverse impact counts follow
        row = current(session, application)
        if row is None:
            row = SelfIdentification(application_id=application.id, sex=sex, race_ethnicity=race_ethnicity)
        row.sex, row.race_ethnicity, row.recorded_at = sex, race_ethnicity, utcnow()
        session.add(row)
    return row
