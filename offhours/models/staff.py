"""Staff accounts: users, API tokens, browser sessions, who works on which job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from offhours.models.base import _ts


class User(SQLModel, table=True):
    """A member of staff. `person_id` links them to the pipelines' directory (pipelines/people.py),
    where reviewer pools, approvers and contacts are named."""

    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=40)
    email: str = Field(sa_column=Column(String(320), nullable=False, unique=True))
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)  # ops, recruiter, reviewer or auditor
    person_id: str | None = Field(default=None, max_length=64, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    disabled_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


class ApiToken(SQLModel, table=True):
    """A staff API token. Only its sha256 is stored: the token itself is shown once, at creation."""

    __tablename__ = "api_tokens"

    id: str = Field(primary_key=True, max_length=40)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=40)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


class WebSession(SQLModel, table=True):
    """A browser login: the cookie holds a random token whose sha256 is stored here."""

    __tablename__ = "web_sessions"

    id: str = Field(primary_key=True, max_length=40)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=40)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class JobMember(SQLModel, table=True):
    """Who works on a job: a recruiter sees the jobs they are on (ops see every job)."""

    __tablename__ = "job_members"
    __table_args__ = (UniqueConstraint("job_id", "user_id", name="uq_job_member"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=40)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=40)
    added_at: datetime = _ts()
