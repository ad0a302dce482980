"""Webhook endpoints (ops): register, list, change, delete, rotate the secret; each endpoint's
deliveries and a manual retry. Events are signed as Standard Webhooks 1.0 (`webhook-id`,
`webhook-timestamp`, `webhook-signature`), carry ids and no personal data, and are delivered by a
workflow each, retried for about three days."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from api.deps import SessionDep, SettingsDep, StaffDep, TemporalClientDep
from api.errors import STAFF_ERRORS, Conflict, NotFound, ServiceUnavailable, Unprocessable, errors
from api.pagination import LINK_HEADER, PagingDep, page, paginate
from api.schemas.webhooks import (
    AttemptPublic,
    DeliveryPublic,
    DeliveryRetryPublic,
    SecretRotation,
    WebhookCreate,
    WebhookPublic,
    WebhookUpdate,
    WebhookWithSecret,
)
from offhours.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from operations import webhooks

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=STAFF_ERRORS)
W = "/{webhook_id}"


def webhook_public(endpoint: WebhookEndpoint) -> WebhookPublic:
    return WebhookPublic.model_validate(endpoint, from_attributes=True)


def with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret(**webhook_public(endpoint).model_dump(), secret=secret)


def delivery_public(
    delivery: WebhookDelivery, attempts: list[WebhookAttempt] | None = None
) -> DeliveryPublic:
    public = DeliveryPublic.model_validate(delivery, from_attributes=True)
    public.attempt_log = [AttemptPublic.model_validate(a, from_attributes=True) for a in attempts or []]
    return public


def load_endpoint(session: Session, webhook_id: str) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, webhook_id)
    if endpoint is None or endpoint.deleted_at is not None:
        raise NotFound(f"webhook endpoint '{webhook_id}' not found")
    return endpoint


async def _checked_url(settings: SettingsDep, url: str) -> str:
    try:
        return await webhooks.check_url(settings, url)
    except webhooks.EndpointError as error:
        raise Unprocessable(str(error)) from None


@router.post(
    "",
    status_code=201,
    response_model=WebhookWithSecret,
    summary="Register an endpoint; its signing secret is answered once",
    responses=errors(400, 413, 422),
)
async def create_webhook(
    body: WebhookCreate, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> WebhookWithSecret:
    url = await _checked_url(settings, body.url)
    registered = webhooks.register(
        session,
        settings,
        url=url,
        events=list(body.events),
        description=body.description,
        created_by=staff.name,
    )
    return with_secret(registered.endpoint, registered.secret)


@router.get("", response_model=list[WebhookPublic])
def list_webhooks(session: SessionDep, staff: StaffDep) -> list[WebhookPublic]:
    del staff
    rows = session.exec(
        select(WebhookEndpoint)
        .where(col(WebhookEndpoint.deleted_at).is_(None))
        .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
    ).all()
    return [webhook_public(e) for e in rows]


@router.get(W, response_model=WebhookPublic, responses=errors(404, 422))
def get_webhook(webhook_id: str, session: SessionDep, staff: StaffDep) -> WebhookPublic:
    del staff
    return webhook_public(load_endpoint(session, webhook_id))


@router.patch(W, response_model=WebhookPublic, responses=errors(400, 404, 413, 422))
async def update_webhook(
    webhook_id: str, body: WebhookUpdate, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> WebhookPublic:
    del staff
    endpoint = load_endpoint(session, webhook_id)
    if body.url is not None:
        endpoint.url = await _checked_url(settings, body.url)
    if body.events is not None:
        endpoint.events = webhooks.check_events(list(body.events))
    if body.description is not None:
        endpoint.description = body.description
    if body.enabled is not None:
        webhooks.enable(endpoint, body.enabled)
    endpoint.updated_at = utcnow()
    session.add(endpoint)
    session.commit()
    session.refresh(endpoint)
    return webhook_public(endpoint)


@router.delete(W, status_code=204, responses=errors(400, 404, 413, 422))
def delete_webhook(webhook_id: str, session: SessionDep, staff: StaffDep) -> Response:
    """The endpoint stops receiving at once (deliveries waiting for a retry are cancelled); its
    delivery log is kept."""
    del staff
    endpoint = load_endpoint(session, webhook_id)
    endpoint.deleted_at = endpoint.updated_at = utcnow()
    endpoint.enabled = False
    session.add(endpoint)
    session.commit()
    return Response(status_code=204)


@router.post(
    f"{W}/rotate-secret",
    response_model=WebhookWithSecret,
    summary="A new signing secret; the previous one keeps signing during the overlap",
    responses=errors(400, 404, 413, 422),
)
def rotate_secret(
    webhook_id: str,
    session: SessionDep,
    settings: SettingsDep,
    staff: StaffDep,
    body: SecretRotation | None = None,
) -> WebhookWithSecret:
    del staff
    endpoint = load_endpoint(session, webhook_id)
    secret = webhooks.rotate_secret(session, settings, endpoint, body.overlap_hours if body else None)
    return with_secret(endpoint, secret)


DeliveryStatus = Literal["pending", "retrying", "delivered", "failed", "cancelled"]


@router.get(
    f"{W}/deliveries",
    response_model=list[DeliveryPublic],
    responses={**errors(404, 422), 200: {"headers": LINK_HEADER}},
)
def list_deliveries(
    webhook_id: str,
    response: Response,
    session: SessionDep,
    staff: StaffDep,
    paging: PagingDep,
    status: DeliveryStatus | None = None,
) -> list[DeliveryPublic]:
    """In the order they were created, a page at a time, with a `Link: <...>; rel="next"` header
    while there are more; `updated_after` gives those created after a time."""
    del staff
    load_endpoint(session, webhook_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == webhook_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    rows, next_cursor = page(session, query, col(WebhookDelivery.created_at), col(WebhookDelivery.id), paging)
    paginate(response, paging, next_cursor)
    attempts = _attempts(session, [d.id for d in rows])
    return [delivery_public(d, attempts.get(d.id)) for d in rows]


def _attempts(session: Session, delivery_ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    found: dict[str, list[WebhookAttempt]] = {}
    if not delivery_ids:
        return found
    for row in session.exec(
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id).in_(delivery_ids))
        .order_by(col(WebhookAttempt.run), col(WebhookAttempt.number))
    ):
        found.setdefault(row.delivery_id, []).append(row)
    return found


@router.post(
    f"{W}/deliveries/{{delivery_id}}/retry",
    status_code=202,
    response_model=DeliveryRetryPublic,
    summary="Attempt the delivery now (a waiting one at once; an ended one in a new run)",
    responses=errors(400, 404, 409, 413, 422, 503),
)
async def retry_delivery(
    webhook_id: str,
    delivery_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> DeliveryRetryPublic:
    del staff
    load_endpoint(session, webhook_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != webhook_id:
        raise NotFound(f"delivery '{delivery_id}' of webhook endpoint '{webhook_id}' not found")
    try:
        action = await webhooks.retry(request.app.state.engine, client, settings, delivery)
    except webhooks.DeliveryConflict as conflict:
        raise Conflict(str(conflict)) from None
    except Exception as error:  # noqa: BLE001 (Temporal away: the caller may retry)
        raise ServiceUnavailable(
            f"the workflow engine did not take the retry ({type(error).__name__}); try again"
        ) from None
    session.expire_all()
    row = session.get(WebhookDelivery, delivery_id)
    assert row is not None
    return DeliveryRetryPublic(delivery=delivery_public(row), action=action)
