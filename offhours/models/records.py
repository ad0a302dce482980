"""What the product keeps about its own keeping: data keys, sealed personal text, legal holds, the
history archive, the answers kept for retried requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text
from sqlmodel import Field, SQLModel

from offhours.models.base import _ts


class DataKey(SQLModel, table=True):
    """An application's data key, wrapped by a master key. Destroyed (wrapped = NULL) by erasure."""

    __tablename__ = "data_keys"

    application_id: str = Field(primary_key=True, max_length=40)
    master_key_id: str = Field(max_length=64)
    wrapped: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = _ts()
    destroyed_at: datetime | None = _ts(nullable=True)


class PersonalText(SQLModel, table=True):
    """Personal free text (a written answer, a note, a reason), sealed with the application's data
    key. Workflows carry its id and sha256, never the text."""

    __tablename__ = "personal_texts"

    id: str = Field(primary_key=True, max_length=40)
    application_id: str = Field(index=True, max_length=40)
    purpose: str = Field(max_length=32)  # answer, notes, decision_reason, withdrawal_reason, ...
    sha256: str = Field(max_length=64)
    sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = _ts()


class LegalHold(SQLModel, table=True):
    """A legal hold on an application: while one is open, neither retention nor erasure runs."""

    __tablename__ = "legal_holds"

    id: str = Field(primary_key=True, max_length=40)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    placed_by: str = Field(max_length=200)
    placed_at: datetime = _ts()
    released_by: str | None = Field(default=None, max_length=200)
    released_at: datetime | None = _ts(nullable=True)
    # derived from the releasing call's Idempotency-Key: its retry finds what it released
    release_ref: str | None = Field(default=None, max_length=40)


class HistoryArchive(SQLModel, table=True):
    """An archived workflow history: the file's sha256 and a hash chain over all entries, so that a
    history altered or removed after archiving is detected (`offhours audit verify-chain`)."""

    __tablename__ = "history_archive"

    seq: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(max_length=120, unique=True)
    application_id: str | None = Field(default=None, max_length=40, index=True)
    path: str = Field(max_length=300)  # relative to DATA_DIR
    sha256: str = Field(max_length=64)
    previous_chain: str = Field(max_length=64, unique=True)  # the chain value before this entry
    chain: str = Field(max_length=64, unique=True)  # sha256(previous_chain + sha256 + workflow_id)
    events: int
    archived_at: datetime = _ts()


class IdempotentRequest(SQLModel, table=True):
    """A state-changing call made with an `Idempotency-Key` (api/idempotency/): claimed while it
    runs, then its response, kept for a retry of the same call to answer. The key itself is not
    stored (the id is an HMAC of it and the caller's credential), and the response is sealed with a
    key derived from it, so a stored answer opens only for the caller who sent the key."""

    __tablename__ = "idempotent_requests"

    id: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(max_length=64)  # an HMAC of the method, path and body
    state: str = Field(default="running", max_length=16)  # running, done
    claim: str = Field(max_length=32)  # drawn by the call that holds it; a takeover draws anew
    lease_until: datetime = _ts()  # a running claim older than this was left by a lost process
    application_id: str | None = Field(default=None, max_length=40, index=True)
    job_id: str | None = Field(default=None, max_length=40, index=True)  # a bulk invitation's job
    status_code: int | None = None
    sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = _ts()
    expires_at: datetime = _ts(index=True)
