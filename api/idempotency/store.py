"""Where kept answers live: claims and sealed answers in `idempotent_requests` (see the package)."""

from __future__ import annotations

import base64
import hmac
import json
import os
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from offhours import accounts
from offhours.links import BadLink, ExpiredLink, read_candidate_link
from offhours.models import Application, IdempotentRequest
from offhours.settings import Settings

NONCE = 12


class Store:
    """The claims and kept answers. Every change to a claimed row names the claim (a token drawn
    when it was taken), so a call whose claim was taken over cannot touch its successor's row."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._purged_at = datetime.min.replace(tzinfo=UTC)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.IDEMPOTENCY_LEASE_SECONDS)

    def claim(self, record: str, fingerprint: str, claim: str) -> IdempotentRequest | None:
        """Take the key under `claim` (None: taken, run the call), or the row that holds it."""
        for _ in range(5):
            now = datetime.now(UTC)
            with Session(self.engine, expire_on_commit=False) as session:
                self._purge(session, now)
                row = session.get(IdempotentRequest, record)
                if row is not None and row.expires_at <= now:
                    session.delete(row)
                    session.commit()
                    row = None
                if row is None:
                    session.add(
                        IdempotentRequest(
                            id=record,
                            fingerprint=fingerprint,
                            claim=claim,
                            lease_until=now + self.lease,
                            expires_at=now + timedelta(hours=self.settings.IDEMPOTENCY_TTL_HOURS),
                        )
                    )
                    try:
                        session.commit()
                        return None
                    except IntegrityError:  # the same call, sent twice at once: look again
                        session.rollback()
                        continue
                if row.fingerprint == fingerprint and row.state == "running" and row.lease_until <= now:
                    # Its process was lost mid-call: this retry takes the claim over.
                    taken = session.execute(
                        update(IdempotentRequest)
                        .where(
                            col(IdempotentRequest.id) == record,
                            col(IdempotentRequest.state) == "running",
                            col(IdempotentRequest.claim) == row.claim,
                        )
                        .values(claim=claim, lease_until=now + self.lease)
                    )
                    session.commit()
                    if getattr(taken, "rowcount", 0) == 1:
                        return None
                    continue
                return row
        raise RuntimeError(f"idempotency record {record[:8]}… changed five times while being read")

    def renew(self, record: str, claim: str) -> None:
        with Session(self.engine) as session:
            session.execute(
                update(IdempotentRequest)
                .where(col(IdempotentRequest.id) == record, col(IdempotentRequest.claim) == claim)
                .where(col(IdempotentRequest.state) == "running")
                .values(lease_until=datetime.now(UTC) + self.lease)
            )
            session.commit()

    def still_valid(self, credential: str) -> bool:
        """Whether the credential a kept answer was made for still opens the API: a revoked token,
        an ended session, a disabled user, a replaced link or an erased application is not given
        it again."""
        kind, _, value = credential.partition(":")
        with Session(self.engine) as session:
            if kind == "bearer":
                admin = self.settings.ADMIN_TOKEN
                if admin and hmac.compare_digest(value.encode(), admin.encode()):
                    return True
                return accounts.user_for_token(session, value) is not None
            if kind == "session":
                return accounts.user_for_session(session, value) is not None
            try:
                link = read_candidate_link(value, self.settings.secret_key)
            except (BadLink, ExpiredLink):
                return False
            application = session.get(Application, link.application_id)
            return (
                application is not None
                and application.erased_at is None
                and link.generation >= application.link_generation
            )

    def look(self, record: str) -> IdempotentRequest | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(IdempotentRequest, record)

    def keep(
        self,
        record: str,
        claim: str,
        status: int,
        sealed: bytes,
        application_id: str | None,
        job_id: str | None,
    ) -> bool:
        """Keep the answer, unless the claim was lost or the application erased meanwhile."""
        with Session(self.engine) as session:
            if application_id is not None:
                application = session.get(Application, application_id)
                if application is not None and application.erased_at is not None:
                    return False
            kept = session.execute(
                update(IdempotentRequest)
                .where(col(IdempotentRequest.id) == record, col(IdempotentRequest.claim) == claim)
                .where(col(IdempotentRequest.state) == "running")
                .values(
                    state="done",
                    status_code=status,
                    sealed=sealed,
                    application_id=application_id,
                    job_id=job_id,
                )
            )
            session.commit()
            return getattr(kept, "rowcount", 0) == 1

    def release(self, record: str, claim: str) -> None:
        with Session(self.engine) as session:
            session.execute(
                delete(IdempotentRequest).where(
                    col(IdempotentRequest.id) == record,
                    col(IdempotentRequest.claim) == claim,
                    col(IdempotentRequest.state) == "running",
                )
            )
            session.commit()

    def _purge(self, session: Session, now: datetime) -> None:
        if now - self._purged_at < timedelta(minutes=10):
            return
        self._purged_at = now
        session.execute(delete(IdempotentRequest).where(col(IdempotentRequest.expires_at) <= now))
        session.commit()


def seal(key: bytes, record: str, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    plain = json.dumps(
        {
            "status": status,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers],
            "body": base64.b64encode(body).decode(),
        }
    ).encode()
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plain, record.encode())


def unseal(key: bytes, record: str, sealed: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    plain = json.loads(AESGCM(key).decrypt(sealed[:NONCE], sealed[NONCE:], record.encode()))
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in plain["headers"]]
    return int(plain["status"]), headers, base64.b64decode(plain["body"])
