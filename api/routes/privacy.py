"""Legal holds and erasure (ops). The privacy workflow of each application carries them out."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from sqlmodel import Session, col, select
from temporalio.client import Client

from activities.privacy import signal_privacy
from api import idempotency
from api.deps import SessionDep, SettingsDep, StaffDep, TemporalClientDep
from api.errors import STAFF_ERRORS, Conflict, ServiceUnavailable, errors
from api.schemas import ErasureCreate, ErasurePublic, LegalHoldCreate, LegalHoldPublic
from api.services.access import load_application, recorded_as
from offhours.contracts import ErasureRequest, HoldChange
from offhours.models import Application, LegalHold, new_id
from offhours.settings import Settings
from offhours.touch import touch

log = logging.getLogger("offhours.api")
router = APIRouter(prefix="/api/v1/applications", tags=["privacy"], responses=STAFF_ERRORS)


def open_holds(session: Session, application_id: str) -> list[LegalHold]:
    return list(
        session.exec(
            select(LegalHold)
            .where(LegalHold.application_id == application_id, col(LegalHold.released_at).is_(None))
            .order_by(col(LegalHold.placed_at))
        ).all()
    )


def _refuse_if_erased(application: Application) -> None:
    if application.erased_at is not None:
        raise Conflict(
            f"application '{application.id}' was erased on {application.erased_at.isoformat()}",
            erased_at=application.erased_at.isoformat(),
        )


async def _signal(client: Client, settings: Settings, application_id: str, signal: str, arg: object) -> None:
    try:
        async with asyncio.timeout(10):
            await signal_privacy(client, settings.TASK_QUEUE, application_id, signal, arg)
    except Exception as error:  # noqa: BLE001 (whatever keeps Temporal away is a 503 the caller may retry)
        raise ServiceUnavailable(
            f"the workflow engine did not take the request ({type(error).__name__}); try again"
        ) from None


@router.post(
    "/{application_id}/legal-hold",
    status_code=201,
    response_model=LegalHoldPublic,
    summary="Put the application on legal hold: retention and erasure stop until it is released",
    responses=errors(400, 404, 409, 413, 422, 503),
)
async def place_legal_hold(
    application_id: str,
    body: LegalHoldCreate,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> LegalHoldPublic:
    application = load_application(session, application_id, staff)
    _refuse_if_erased(application)
    hold_id = idempotency.row_id("hold")  # a retry (Idempotency-Key) finds the hold it placed
    if hold_id is not None and (placed := session.get(LegalHold, hold_id)) is not None:
        # The first call may have been lost between storing the hold and telling the workflow:
        # told again (the workflow counts holds by id, so twice is once).
        await _signal(client, settings, application.id, "hold", HoldChange(placed.id, placed.placed_by, True))
        return LegalHoldPublic.model_validate(placed, from_attributes=True)
    hold = LegalHold(
        id=hold_id or new_id("hold"),
        application_id=application.id,
        reason=body.reason,
        placed_by=recorded_as(staff),
    )
    session.add(hold)
    application.legal_hold_at = application.legal_hold_at or hold.placed_at
    session.add(touch(application))
    session.commit()
    try:
        await _signal(client, settings, application.id, "hold", HoldChange(hold.id, hold.placed_by, True))
    except ServiceUnavailable:
        session.delete(hold)
        if not open_holds(session, application.id):
            application.legal_hold_at = None
        session.add(touch(application))
        session.commit()
        raise
    return LegalHoldPublic.model_validate(hold, from_attributes=True)


@router.delete(
    "/{application_id}/legal-hold",
    response_model=list[LegalHoldPublic],
    summary="Release the application's legal hold: retention and erasure resume where they were",
    responses=errors(404, 409, 422, 503),
)
async def release_legal_hold(
    application_id: str,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> list[LegalHoldPublic]:
    application = load_application(session, application_id, staff)
    holds = open_holds(session, application.id)
    release_ref = idempotency.row_id("release")
    if not holds and release_ref is not None:  # a retry of a release that went through
        released = session.exec(select(LegalHold).where(LegalHold.release_ref == release_ref)).all()
        if released:
            return [LegalHoldPublic.model_validate(h, from_attributes=True) for h in released]
    if not holds:
        raise Conflict(f"application '{application_id}' is not on legal hold")
    now = datetime.now(UTC)
    for hold in holds:
        await _signal(
            client, settings, application.id, "hold", HoldChange(hold.id, recorded_as(staff), False)
        )
        hold.released_at = now
        hold.released_by = recorded_as(staff)
        hold.release_ref = release_ref
        session.add(hold)
    application.legal_hold_at = None
    session.add(touch(application))
    session.commit()
    return [LegalHoldPublic.model_validate(h, from_attributes=True) for h in holds]


@router.get(
    "/{application_id}/legal-hold",
    response_model=list[LegalHoldPublic],
    summary="Every legal hold of the application, open and released",
    responses=errors(404, 422),
)
def legal_holds(application_id: str, session: SessionDep, staff: StaffDep) -> list[LegalHoldPublic]:
    application = load_application(session, application_id, staff)
    rows = session.exec(
        select(LegalHold).where(LegalHold.application_id == application.id).order_by(col(LegalHold.placed_at))
    ).all()
    return [LegalHoldPublic.model_validate(h, from_attributes=True) for h in rows]


@router.post(
    "/{application_id}/erasure",
    status_code=202,
    response_model=ErasurePublic,
    summary="Erase the application's personal content now (closes it if open); refused while on legal hold",
    responses=errors(400, 404, 409, 413, 422, 503),
)
async def erase(
    application_id: str,
    body: ErasureCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> ErasurePublic:
    idempotency.keep_apart(request.scope.setdefault("state", {}))  # the answer outlives the erasure
    application = load_application(session, application_id, staff)
    _refuse_if_erased(application)
    if open_holds(session, application.id):
        raise Conflict(
            f"application '{application_id}' is on legal hold; release the hold before erasing",
            legal_hold=True,
        )
    now = datetime.now(UTC)
    if application.erasure_reason is None:
        # Kept after the erasure, for the audit: who erased, when, and why (staff words, not the
        # candidate's).
        application.erasure_reason = body.reason
        session.add(application)
        session.commit()
    await _signal(client, settings, application.id, "erase", ErasureRequest(recorded_as(staff), now, "ops"))
    return ErasurePublic(
        application_id=application.id,
        status="scheduled",
        due=now,
        detail="the application's content is being erased; GET the application to see erased_at",
    )
