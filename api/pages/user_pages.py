"""Staff accounts in the browser, for ops: the users with their role, a new user, another role,
disabling one, a new API token, shown once on the page that creates it and never again, and each
user's live tokens (name, created, last used) with a revoke button. The same functions as
`offhours users` and `offhours tokens` (offhours/accounts.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from api.deps import Principal, SessionDep, SettingsDep, StaffDep, get_staff
from api.errors import NotFound
from api.pages.forms import text
from api.pages.render import staff_page
from offhours import accounts
from offhours.models import ApiToken, User
from offhours.settings import Settings
from pipelines.people import PEOPLE

router = APIRouter(prefix="/staff", tags=["staff pages"], include_in_schema=False)

DONE = {
    "created": "The user is created.",
    "role": "The role is changed; it applies from their next request.",
    "disabled": "The user is disabled: their tokens and sessions stopped working.",
    "revoked": "The token is revoked: requests that carry it are refused from now on.",
}


def users_page(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Principal,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    row_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    users = list(session.exec(select(User).order_by(col(User.created_at), col(User.id))))
    tokens: dict[str, list[ApiToken]] = {}
    live = select(ApiToken).where(col(ApiToken.revoked_at).is_(None))
    for token in session.exec(live.order_by(col(ApiToken.created_at), col(ApiToken.id))):
        tokens.setdefault(token.user_id, []).append(token)
    return staff_page(
        request,
        settings,
        staff,
        "users.html",
        status_code=status_code,
        users=users,
        tokens=tokens,
        roles=accounts.ROLES,
        people=sorted(PEOPLE.items()),
        errors=errors or {},
        values=values or {},
        row_errors=row_errors or {},
        error="That could not be done; see the message by the form." if status_code >= 400 else None,
        notice=DONE.get(request.query_params.get("done", "")),
    )


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep) -> HTMLResponse:
    return users_page(request, session, settings, staff)


def _field_of(message: str) -> str:
    for word, name in (("role", "role"), ("password", "password"), ("email", "email")):
        if word in message:
            return name
    return "email"


@router.post("/users", response_model=None)
async def create_user(
    request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> Response:
    form = await request.form(max_fields=10)
    values = {n: text(form, n) for n in ("email", "name", "role", "person_id")}
    password = form.get("password")
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "Enter the person's name."
    if values["person_id"] and values["person_id"] not in PEOPLE:
        errors["person_id"] = f"'{values['person_id']}' is not in the staff directory."
    if not errors:
        try:
            accounts.create_user(
                session,
                values["email"],
                values["name"][:200],
                values["role"],
                values["person_id"] or None,
                password if isinstance(password, str) and password else None,
            )
        except accounts.AccountError as error:
            errors[_field_of(str(error))] = str(error)
    if errors:
        session.rollback()
        return users_page(request, session, settings, staff, 422, errors=errors, values=values)
    return RedirectResponse("/staff/users?done=created", status_code=303)


def _user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id '{user_id}'")
    return user


@router.post("/users/{user_id}/role", response_model=None)
async def change_role(
    user_id: str, request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> Response:
    form = await request.form(max_fields=5)
    user = _user(session, user_id)
    try:
        accounts.set_role(session, user.id, text(form, "role"))
    except accounts.AccountError as error:
        session.rollback()
        return users_page(request, session, settings, staff, 422, row_errors={user_id: str(error)})
    return RedirectResponse("/staff/users?done=role", status_code=303)


@router.post("/users/{user_id}/disable", response_model=None)
async def disable(
    user_id: str, request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> Response:
    user = _user(session, user_id)
    try:
        accounts.disable_user_by(session, user.id, staff.user_id)
    except accounts.AccountError as error:
        session.rollback()
        return users_page(request, session, settings, staff, 422, row_errors={user_id: str(error)})
    return RedirectResponse("/staff/users?done=disabled", status_code=303)


@router.post("/users/{user_id}/tokens", response_model=None)
async def create_token(
    user_id: str, request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> Response:
    """A new API token, on this response only: never stored in plain, never logged, not cached."""
    form = await request.form(max_fields=5)
    user = _user(session, user_id)
    try:
        token, plain = accounts.create_token(session, user.id, text(form, "name")[:100] or "token")
    except accounts.AccountError as error:
        session.rollback()
        return users_page(request, session, settings, staff, 422, row_errors={user_id: str(error)})
    page = staff_page(request, settings, staff, "token.html", user=user, token=token, plain=plain)
    page.headers["Cache-Control"] = "no-store"
    return page


@router.post(
    "/users/{user_id}/tokens/{token_id}/revoke", response_model=None, dependencies=[Depends(get_staff)]
)
async def revoke_token(user_id: str, token_id: str, session: SessionDep) -> Response:
    """The token stops working at once; revoking it again changes nothing."""
    user = _user(session, user_id)
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"{user.email} has no token '{token_id}'")
    accounts.revoke_token(session, token.id)
    return RedirectResponse("/staff/users?done=revoked", status_code=303)
