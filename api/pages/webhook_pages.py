"""Webhook endpoints in the browser, for ops: the endpoints with their state and how their
deliveries stand, a form to register one (its signing secret shown once, on the page that answers
the form, and never again), and each endpoint's page: enable or disable it, change its events and
description, rotate its secret (the new one shown once; the previous one keeps signing for the
overlap), delete it, and its latest deliveries with a Retry button for those not delivered. The
same operations as the JSON API (api/routes/webhooks.py, operations/webhooks.py).

Every change is one `POST /staff/webhooks/{id}` whose `action` field names it (enable, disable,
update, rotate, delete): one route, one policy rule, and each form says what it does. The forms that
answer with a secret carry an Idempotency-Key like the others: a double click registers one
endpoint and rotates once (a second rotation would end the overlap of the first secret at once);
the answer kept for the replay is sealed with a key only that form holds (api/idempotency)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, func, select

from api.deps import Principal, SessionDep, SettingsDep, StaffDep
from api.errors import NotFound, ServiceUnavailable
from api.pages.forms import text
from api.pages.render import staff_page
from api.routes.webhooks import load_endpoint
from offhours.models import User, WebhookDelivery, WebhookEndpoint, utcnow
from offhours.settings import Settings
from offhours.webhooks.events import EVENT_TYPES
from operations import webhooks

router = APIRouter(prefix="/staff", tags=["staff pages"], include_in_schema=False)

LATEST = 100  # deliveries shown on an endpoint's page, newest first
STATUSES = ("pending", "retrying", "delivered", "failed", "cancelled")
DESCRIPTION_LIMIT = 500
ACTIONS = ("enable", "disable", "update", "rotate", "delete")

DONE = {
    "deleted": "The endpoint is deleted: it receives nothing more. Its delivery log is kept.",
    "enabled": "The endpoint is enabled: new events are delivered to it again.",
    "disabled": "The endpoint is disabled: nothing is delivered to it until it is enabled.",
    "updated": "The changes are saved; they apply to the next events.",
    "retried": "Attempting the delivery now; reload the page in a moment to see how it went.",
    "retry_delivered": "This delivery was delivered already; the receiver has it.",
    "retry_disabled": "The endpoint is disabled: enable it first, then retry the delivery.",
}


def utc(moment: datetime | None) -> str:
    """A time as the pages show it: to the second, in UTC, said so."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _counts(session: Session, endpoint_ids: list[str]) -> dict[str, dict[str, int]]:
    """Deliveries of each endpoint by status."""
    found: dict[str, dict[str, int]] = {}
    if not endpoint_ids:
        return found
    rows = session.exec(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
        .where(col(WebhookDelivery.endpoint_id).in_(endpoint_ids))
        .group_by(col(WebhookDelivery.endpoint_id), col(WebhookDelivery.status))
    )
    for endpoint_id, status, count in rows:
        found.setdefault(endpoint_id, {})[status] = count
    return found


def _common(settings: Settings) -> dict[str, Any]:
    return {
        "event_types": EVENT_TYPES,
        "statuses": STATUSES,
        "utc": utc,
        "overlap_hours": settings.WEBHOOK_SECRET_OVERLAP_HOURS,
        "disable_after_days": f"{settings.WEBHOOK_DISABLE_AFTER_DAYS:g}",
        "description_limit": DESCRIPTION_LIMIT,
    }


def list_page(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Principal,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> HTMLResponse:
    endpoints = list(
        session.exec(
            select(WebhookEndpoint)
            .where(col(WebhookEndpoint.deleted_at).is_(None))
            .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
        )
    )
    return staff_page(
        request,
        settings,
        staff,
        "webhooks.html",
        status_code=status_code,
        endpoints=endpoints,
        counts=_counts(session, [e.id for e in endpoints]),
        errors=errors or {},
        values=values or {"events": []},
        error="The endpoint was not registered; see the message by the form." if errors else None,
        notice=DONE.get(request.query_params.get("done", "")),
        **_common(settings),
    )


def endpoint_page(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Principal,
    endpoint: WebhookEndpoint,
    status_code: int = 200,
    secret: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    deliveries = list(
        session.exec(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc())
            .limit(LATEST)
        )
    )
    creator = session.get(User, endpoint.created_by) if endpoint.created_by else None
    page = staff_page(
        request,
        settings,
        staff,
        "webhooks_endpoint.html",
        created_by=creator.email if creator is not None else endpoint.created_by,
        status_code=status_code,
        endpoint=endpoint,
        deliveries=deliveries,
        counts=_counts(session, [endpoint.id]).get(endpoint.id, {}),
        latest=LATEST,
        secret=secret,
        errors=errors or {},
        values=values or {"events": list(endpoint.events), "description": endpoint.description},
        error=error or ("That could not be done; see the message by the form." if errors else None),
        notice=notice or DONE.get(request.query_params.get("done", "")),
        **_common(settings),
    )
    if secret is not None:
        page.headers["Cache-Control"] = "no-store"
    return page


def _events(form: Any) -> list[str]:
    return [value for value in form.getlist("events") if isinstance(value, str)]


def _checked_events(events: list[str], errors: dict[str, str]) -> list[str]:
    if not events:
        errors["events"] = "Choose at least one event type to send."
        return []
    try:
        return webhooks.check_events(events)
    except webhooks.EndpointError as error:
        errors["events"] = str(error).removeprefix("events: ")
        return []


def _checked_description(description: str, errors: dict[str, str]) -> str:
    if len(description) > DESCRIPTION_LIMIT:
        errors["description"] = f"Keep the description to {DESCRIPTION_LIMIT} characters or fewer."
    return description


@router.get("/webhooks", response_class=HTMLResponse)
def endpoints(request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep) -> HTMLResponse:
    return list_page(request, session, settings, staff)


@router.post("/webhooks", response_model=None)
async def register(request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep) -> Response:
    """Register an endpoint; the page that answers shows its secret, this once."""
    form = await request.form(max_fields=len(EVENT_TYPES) + 10)
    values: dict[str, Any] = {
        "url": text(form, "url"),
        "description": text(form, "description"),
        "events": _events(form),
    }
    errors: dict[str, str] = {}
    try:
        url = await webhooks.check_url(settings, values["url"])
    except webhooks.EndpointError as error:
        errors["url"] = str(error).removeprefix("url: ")
    events = _checked_events(values["events"], errors)
    description = _checked_description(values["description"], errors)
    if errors:
        return list_page(request, session, settings, staff, 422, errors=errors, values=values)
    registered = webhooks.register(
        session, settings, url=url, events=events, description=description, created_by=staff.name
    )
    return endpoint_page(
        request,
        session,
        settings,
        staff,
        registered.endpoint,
        status_code=201,
        secret=registered.secret,
        notice="The endpoint is registered: events are delivered to it from now on.",
    )


@router.get("/webhooks/{webhook_id}", response_class=HTMLResponse)
def endpoint(
    webhook_id: str, request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> HTMLResponse:
    return endpoint_page(request, session, settings, staff, load_endpoint(session, webhook_id))


def _save(session: Session, endpoint: WebhookEndpoint) -> None:
    endpoint.updated_at = utcnow()
    session.add(endpoint)
    session.commit()
    session.refresh(endpoint)


@router.post("/webhooks/{webhook_id}", response_model=None)
async def change(
    webhook_id: str, request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> Response:
    """One change to the endpoint, named by the form's `action`."""
    form = await request.form(max_fields=len(EVENT_TYPES) + 10)
    endpoint = load_endpoint(session, webhook_id)
    action = text(form, "action")
    here = f"/staff/webhooks/{endpoint.id}"
    if action in ("enable", "disable"):
        webhooks.enable(endpoint, action == "enable")
        _save(session, endpoint)
        done = "enabled" if action == "enable" else "disabled"
        return RedirectResponse(f"{here}?done={done}", status_code=303)
    if action == "update":
        values: dict[str, Any] = {"description": text(form, "description"), "events": _events(form)}
        errors: dict[str, str] = {}
        events = _checked_events(values["events"], errors)
        description = _checked_description(values["description"], errors)
        if errors:
            return endpoint_page(
                request, session, settings, staff, endpoint, 422, errors=errors, values=values
            )
        endpoint.events, endpoint.description = events, description
        _save(session, endpoint)
        return RedirectResponse(f"{here}?done=updated", status_code=303)
    if action == "rotate":
        secret = webhooks.rotate_secret(session, settings, endpoint, None)
        return endpoint_page(
            request,
            session,
            settings,
            staff,
            endpoint,
            secret=secret,
            notice="The secret is rotated: deliveries are signed with the new one from now on.",
        )
    if action == "delete":
        if text(form, "confirm") != "yes":
            errors = {"confirm": "Tick the box to confirm that this endpoint is to be deleted."}
            return endpoint_page(request, session, settings, staff, endpoint, 422, errors=errors)
        # As DELETE /api/v1/webhooks/{id}: it stops receiving at once (deliveries waiting for a
        # retry are cancelled when they wake); its delivery log is kept.
        endpoint.deleted_at = utcnow()
        endpoint.enabled = False
        _save(session, endpoint)
        return RedirectResponse("/staff/webhooks?done=deleted", status_code=303)
    return endpoint_page(
        request,
        session,
        settings,
        staff,
        endpoint,
        422,
        error=f"Unknown action '{action[:40]}': use one of {', '.join(ACTIONS)}.",
    )


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", response_model=None)
async def retry(
    webhook_id: str,
    delivery_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: StaffDep,
) -> Response:
    """Attempt a delivery now, then back to the endpoint's page saying so (or why not)."""
    endpoint = load_endpoint(session, webhook_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound(f"the webhook endpoint has no delivery with id '{delivery_id}'")
    here = f"/staff/webhooks/{endpoint.id}"
    session.commit()  # no transaction held open while the retry writes through its own
    try:
        client = await request.app.state.temporal.client()
        await webhooks.retry(request.app.state.engine, client, settings, delivery)
    except webhooks.DeliveryConflict as conflict:
        # Said in the page's words where the state tells why (the operation's own words name the
        # JSON API's call); otherwise in the operation's words.
        session.expire_all()
        endpoint, delivery = load_endpoint(session, webhook_id), session.get(WebhookDelivery, delivery_id)
        if not endpoint.enabled:
            return RedirectResponse(f"{here}?done=retry_disabled", status_code=303)
        if delivery is not None and delivery.status == "delivered":
            return RedirectResponse(f"{here}?done=retry_delivered", status_code=303)
        return endpoint_page(
            request, session, settings, staff, endpoint, 409, error=f"Not retried: {conflict}."
        )
    except Exception as error:  # noqa: BLE001 (Temporal away: ops may try again)
        raise ServiceUnavailable(
            f"the workflow engine did not take the retry ({type(error).__name__}); try again in a moment"
        ) from None
    return RedirectResponse(f"{here}?done=retried", status_code=303)
