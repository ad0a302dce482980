"""Per-application encryption at rest: crypto-shredding.

Every application gets its own random 256-bit data key, stored only wrapped (AES-256-GCM) by a
master key from settings (``OFFHOURS_MASTER_KEYS``: the first wraps, every one unwraps, so a master
key can be rotated). Written answers, personal free text (notes, reasons, messages) and uploaded
files of the application are sealed with that data key. Destroying the wrapped key (erasure) makes
every copy in the product unreadable at once, file copies included; a database backup taken before
still holds the wrapped key until the master key that wrapped it is retired (`offhours db
rewrap-keys` after a rotation).

A sealed value is ``b"OHS1" + nonce(12) + AES-GCM(ciphertext + tag)``, authenticated with the
application id, so a value moved to another application does not open.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from offhours.models import DataKey, PersonalText, new_id
from offhours.settings import Settings

SEALED = b"OHS1"
NONCE = 12


class Erased(Exception):
    """The application's data key has been destroyed: its content can no longer be read."""


class VaultError(RuntimeError):
    """A wrapped key or a sealed value does not open with the keys configured."""


@dataclass(frozen=True)
class TextRef:
    """What a workflow carries instead of personal text: where it is stored and its sha256."""

    id: str
    sha256: str
    created: bool = True  # False: kept already, for an earlier attempt of the same call


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Vault:
    def __init__(self, settings: Settings) -> None:
        self.master = settings.master_keys()
        if not self.master:
            raise VaultError("no master key configured (OFFHOURS_MASTER_KEYS)")

    # ---------------------------------------------------------------- data keys

    def _wrap(self, application_id: str, key: bytes) -> tuple[str, bytes]:
        key_id, master = self.master[0]
        nonce = os.urandom(NONCE)
        return key_id, nonce + AESGCM(master).encrypt(nonce, key, f"datakey:{application_id}".encode())

    def _unwrap(self, application_id: str, row: DataKey) -> bytes:
        assert row.wrapped is not None
        master = dict(self.master).get(row.master_key_id)
        if master is None:
            raise VaultError(
                f"the data key of application {application_id} is wrapped by master key "
                f"'{row.master_key_id}', which OFFHOURS_MASTER_KEYS no longer lists"
            )
        blob = row.wrapped
        try:
            return AESGCM(master).decrypt(blob[:NONCE], blob[NONCE:], f"datakey:{application_id}".encode())
        except Exception as error:
            raise VaultError(f"the data key of application {application_id} does not unwrap") from error

    def key(self, session: Session, application_id: str, *, create: bool = True) -> bytes:
        """The application's data key, made on first use. Raises Erased once destroyed."""
        row = session.get(DataKey, application_id)
        if row is None and create:
            row = self._create(session, application_id)
        if row is None or row.wrapped is None:
            raise Erased(f"the content of application {application_id} has been erased")
        return self._unwrap(application_id, row)

    def _create(self, session: Session, application_id: str) -> DataKey:
        """Made in a transaction of its own, so that two requests racing for the first key agree on
        one (the loser reads the winner's)."""
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        key_id, wrapped = self._wrap(application_id, AESGCM.generate_key(bit_length=256))
        with Session(engine) as own:
            own.add(DataKey(application_id=application_id, master_key_id=key_id, wrapped=wrapped))
            try:
                own.commit()
            except IntegrityError:
                own.rollback()
        row = session.get(DataKey, application_id, populate_existing=True)
        assert row is not None
        return row

    def destroy(self, session: Session, application_id: str) -> None:
        """Crypto-shred: forget the wrapped key. Everything sealed with it is unreadable from now on."""
        row = session.get(DataKey, application_id)
        if row is None:
            row = DataKey(application_id=application_id, master_key_id="", wrapped=None)
        row.wrapped = None
        row.destroyed_at = datetime.now(UTC)
        session.add(row)

    def rewrap(self, session: Session, application_id: str) -> bool:
        """Wrap the data key with the first master key (after a rotation). True if it changed."""
        row = session.get(DataKey, application_id)
        if row is None or row.wrapped is None or row.master_key_id == self.master[0][0]:
            return False
        row.master_key_id, row.wrapped = self._wrap(application_id, self._unwrap(application_id, row))
        session.add(row)
        return True

    # ---------------------------------------------------------------- values

    def seal(self, session: Session, application_id: str, data: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        key = self.key(session, application_id)
        return SEALED + nonce + AESGCM(key).encrypt(nonce, data, application_id.encode())

    def open(self, session: Session, application_id: str, blob: bytes) -> bytes:
        if not blob.startswith(SEALED):
            raise VaultError("not a sealed value")
        key = self.key(session, application_id, create=False)
        body = blob[len(SEALED) :]
        try:
            return AESGCM(key).decrypt(body[:NONCE], body[NONCE:], application_id.encode())
        except Exception as error:
            raise VaultError(f"a sealed value of application {application_id} does not open") from error

    # ---------------------------------------------------------------- personal text by reference

    def store_text(
        self, session: Session, application_id: str, purpose: str, text: str, *, text_id: str | None = None
    ) -> TextRef:
        """Keep a piece of personal free text (an answer, a note, a reason) sealed in the product
        database; the workflow is given only the returned id and sha256. A `text_id` already kept
        for the application (a retried call) is referred to again, not stored twice."""
        if text_id is not None:
            kept = session.get(PersonalText, text_id)
            if kept is not None and kept.application_id == application_id and kept.sha256 == digest(text):
                return TextRef(kept.id, kept.sha256, created=False)
        row = PersonalText(
            id=text_id or new_id("txt"),
            application_id=application_id,
            purpose=purpose,
            sha256=digest(text),
            sealed=self.seal(session, application_id, text.encode("utf-8")),
        )
        session.add(row)
        session.flush()
        return TextRef(row.id, row.sha256)

    def read_text(self, session: Session, text_id: str | None) -> str | None:
        """The text behind a reference; None if there is none or it has been erased."""
        if not text_id:
            return None
        row = session.get(PersonalText, text_id)
        if row is None or row.sealed is None:
            return None
        try:
            return self.open(session, row.application_id, row.sealed).decode("utf-8")
        except Erased:
            return None


def vault_for(settings: Settings) -> Vault:
    return Vault(settings)
