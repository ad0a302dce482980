"""Dependencies: settings, database session, Temporal client, and the authenticated principal."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from api.errors import Forbidden, ServiceUnavailable, Unauthorized
from offhours.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """One session per request; committed once when the route returns, rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


async def get_temporal(request: Request) -> Client:
    gateway = request.app.state.temporal
    try:
        client: Client = await gateway.client()
    except Exception as error:
        raise ServiceUnavailable(f"the workflow engine (Temporal) is unreachable: {error}") from None
    return client


@dataclass(frozen=True)
class Principal:
    """Who is calling. Set by the server from the credentials, never taken from a request body."""

    name: str
    role: str

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"the {self.role} role may not do this; it needs one of: {', '.join(roles)}")


bearer = HTTPBearer(auto_error=False, description="Staff API token")


def get_staff(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send a staff token as 'Authorization: Bearer <token>'")
    token = credentials.credentials
    if settings.ADMIN_TOKEN and secrets.compare_digest(token.encode(), settings.ADMIN_TOKEN.encode()):
        return Principal(name="admin", role="ops")
    raise Unauthorized("this token is not valid")


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the commit happens before the response is sent, so a 201 means it is stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
TemporalClientDep = Annotated[Client, Depends(get_temporal)]
StaffDep = Annotated[Principal, Depends(get_staff)]
