"""File storage under DATA_DIR: uploads sealed with their application's data key (crypto-shredding).

An upload is first written to `incoming/` while its digest and size are computed (refused as soon
as it passes its limit) and inspected there (type sniffing and PyAV need the plain bytes); it is
then sealed into `objects/<application_id>/<sha256[:2]>/<sha256[2:]>` and the plaintext removed at
once. The sha256 is of the plaintext, the digest the answer and the workflow history carry.

Sealed files are written and read in the format of `offhours.storage.sealing`.

Files stored before sealing (`objects/<sha256[:2]>/<sha256[2:]>`, in clear) are still read.

Two uploads of the same bytes for one application share one sealed object. Each upload holds it
(`pending/<application_id>/<sha256>.<token>`) until its workflow accepted or refused the answer,
so a refused upload never removes the object another upload in flight is about to reference.

An object no answer references any more (its answer was replaced by another upload) is removed by
`collect`, under the same lock, after the new answer is committed and never while an upload holds
it. `received/<application_id>` counts the uploads sealed for the application, so that a quota
(MAX_UPLOADS_PER_APPLICATION) holds across requests and API processes sharing the volume.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from sqlmodel import Session, col, select

from offhours.models import Answer
from offhours.settings import Settings
from offhours.storage.sealing import (
    CHUNK,
    HOLD_SECONDS,
    FileGone,
    FileTooLarge,
    FileUnreadable,
    SealedFile,
    StoredFile,
    TooManyUploads,
    check_application,
    check_sha,
    seal_stream,
)


class Incoming:
    """A file being received: write chunks, inspect it, then seal it into the store or discard it."""

    def __init__(self, store: FileStore, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.size = 0
        self._digest = hashlib.sha256()
        directory = store.root / "incoming"
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=directory)
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.discard()
            raise FileTooLarge(self.max_bytes)
        self._digest.update(chunk)
        self._file.write(chunk)

    def finish(self) -> Path:
        """Flush to disk; the file can be inspected at the returned path before it is sealed."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        return self.path

    def seal(self, application_id: str, key: bytes, max_uploads: int | None = None) -> StoredFile:
        """Seal the file for the application and remove the plaintext. The returned StoredFile holds
        the object until `FileStore.release` or `FileStore.forget` is called with it. With
        `max_uploads`, TooManyUploads once the application has received that many (nothing kept)."""
        self.finish()
        sha = self._digest.hexdigest()
        store = self.store
        final = store.sealed_path(application_id, sha)
        try:
            if final.exists():
                with store._locked(application_id):
                    if final.exists():
                        store._count_upload(application_id, max_uploads)
                        return StoredFile(
                            sha, self.size, final, False, application_id, store._hold(application_id, sha)
                        )
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".sealing-")
            sealed = Path(name)
            try:
                with os.fdopen(fd, "wb") as target, self.path.open("rb") as source:
                    seal_stream(source, target, key, application_id, sha, self.size)
                    target.flush()
                    os.fsync(target.fileno())
                self.path.unlink(missing_ok=True)  # no plaintext a moment longer than needed
                with store._locked(application_id):
                    store._count_upload(application_id, max_uploads)
                    hold = store._hold(application_id, sha)
                    if final.exists():
                        return StoredFile(sha, self.size, final, False, application_id, hold)
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(sealed, final)
                    return StoredFile(sha, self.size, final, True, application_id, hold)
            finally:
                sealed.unlink(missing_ok=True)
        finally:
            self.path.unlink(missing_ok=True)

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------- the store


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def sealed_path(self, application_id: str, sha256: str) -> Path:
        check_application(application_id)
        check_sha(sha256)
        return self.root / "objects" / application_id / sha256[:2] / sha256[2:]

    def path_for(self, sha256: str) -> Path:
        """Where a file stored before sealing lies, in clear (read, never written any more)."""
        check_sha(sha256)
        return self.root / "objects" / sha256[:2] / sha256[2:]

    legacy_path = path_for

    def incoming(self, max_bytes: int) -> Incoming:
        return Incoming(self, max_bytes)

    def put(
        self,
        source: BinaryIO,
        max_bytes: int,
        application_id: str,
        key: bytes,
        max_uploads: int | None = None,
    ) -> StoredFile:
        """Stream `source` into the store sealed for the application, refusing more than
        `max_bytes`. The caller releases (or forgets) the returned file."""
        incoming = self.incoming(max_bytes)
        try:
            while chunk := source.read(CHUNK):
                incoming.write(chunk)
            return incoming.seal(application_id, key, max_uploads)
        finally:
            incoming.discard()

    def open(self, application_id: str, sha256: str, key: bytes) -> SealedFile:
        """The application's sealed copy of `sha256`; FileGone if there is none."""
        return SealedFile(self.sealed_path(application_id, sha256), application_id, sha256, key)

    # ------------------------------------------------------------ holds: uploads in flight

    def _pending(self, application_id: str) -> Path:
        return self.root / "pending" / check_application(application_id)

    @contextmanager
    def _locked(self, application_id: str) -> Iterator[Path]:
        """Serialise, across processes on this volume, what creates and removes the application's
        objects and holds."""
        directory = self._pending(application_id)
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / ".lock").open("ab") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield directory
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _hold(self, application_id: str, sha256: str) -> Path:
        hold = self._pending(application_id) / f"{sha256}.{secrets.token_hex(8)}"
        hold.touch()
        return hold

    def release(self, stored: StoredFile) -> None:
        """The upload's answer has been decided: keep the object, drop the hold. (An upload whose
        fate is unknown keeps its hold until it expires, HOLD_SECONDS later.)"""
        if stored.hold is not None:
            stored.hold.unlink(missing_ok=True)

    def forget(self, stored: StoredFile, in_use: Callable[[], bool]) -> bool:
        """The upload was refused: remove its object unless another upload in flight holds it or
        `in_use()` (an answer points at it). True if removed."""
        if stored.application_id is None:  # a file stored before sealing: shared, left alone
            return False
        with self._locked(stored.application_id) as pending:
            self.release(stored)
            now = time.time()
            for other in pending.glob(f"{stored.sha256}.*"):
                try:
                    if now - other.stat().st_mtime < HOLD_SECONDS:
                        return False
                except FileNotFoundError:
                    continue
                other.unlink(missing_ok=True)  # left by a request that died
            if in_use():
                return False
            path = self.sealed_path(stored.application_id, stored.sha256)
            path.unlink(missing_ok=True)
            with suppress(OSError):
                path.parent.rmdir()  # the sha256[:2] folder, when empty
            return True

    def _held(self, pending: Path) -> set[str]:
        """Digests that uploads in flight hold (in the locked `pending` folder); stale holds, left
        by a request that died, are removed."""
        held, now = set(), time.time()
        for hold in pending.glob("*.*"):
            sha, _, token = hold.name.partition(".")
            if not sha or not token:  # .lock
                continue
            try:
                fresh = now - hold.stat().st_mtime < HOLD_SECONDS
            except FileNotFoundError:
                continue
            if fresh:
                held.add(sha)
            else:
                hold.unlink(missing_ok=True)
        return held

    def collect(
        self, application_id: str, referenced: Callable[[], set[str]], replaced: Iterable[str] = ()
    ) -> list[str]:
        """Remove the application's objects that no answer references and no upload in flight holds:
        those in `replaced` (answers replaced just now) at once, any other once it is older than an
        upload's hold (left over by replacements that raced). `referenced()` is asked under the lock,
        so an answer committed before it is seen and an upload sealed after it is held; call this
        only after the new answer is committed. Returns the digests removed."""
        objects = self.root / "objects" / check_application(application_id)
        at_once = {check_sha(sha) for sha in replaced}
        removed: list[str] = []
        with self._locked(application_id) as pending:
            held = self._held(pending)
            in_use = referenced()
            now = time.time()
            for path in objects.glob("??/*") if objects.exists() else ():
                sha = path.parent.name + path.name
                if len(sha) != 64 or sha in in_use or sha in held:
                    continue
                try:
                    stale = now - path.stat().st_mtime >= HOLD_SECONDS
                except FileNotFoundError:
                    continue
                if sha in at_once or stale:
                    path.unlink(missing_ok=True)
                    with suppress(OSError):
                        path.parent.rmdir()
                    removed.append(sha)
        return removed

    # ------------------------------------------------------------ the upload quota

    def _received(self, application_id: str) -> Path:
        return self.root / "received" / check_application(application_id)

    def uploads_received(self, application_id: str) -> int:
        """How many uploads have been sealed for the application (refused ones included)."""
        try:
            return int(self._received(application_id).read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _count_upload(self, application_id: str, limit: int | None) -> None:
        """Count one more upload, or raise TooManyUploads if `limit` are counted. Under the lock."""
        count = self.uploads_received(application_id)
        if limit is not None and count >= limit:
            raise TooManyUploads(limit)
        path = self._received(application_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".counting-")
        with os.fdopen(fd, "w") as counter:
            counter.write(str(count + 1))
        os.replace(name, path)

    # ------------------------------------------------------------ checks and erasure

    def verify(self, sha256: str, application_id: str | None = None, key: bytes | None = None) -> bool:
        """The file is stored and its content has this digest: the application's sealed copy
        (opened with its data key, every chunk authenticated) or, without one, a file stored in
        clear before sealing."""
        digest = hashlib.sha256()
        if application_id is not None and key is not None:
            try:
                with self.open(application_id, sha256, key) as sealed:
                    for plain in sealed.read():
                        digest.update(plain)
            except (FileGone, FileUnreadable):
                return False
            return digest.hexdigest() == sha256
        path = self.path_for(sha256)
        if not path.exists():
            return False
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == sha256

    def erase(self, application_id: str, legacy: Iterable[str] = ()) -> int:
        """Remove every stored object of the application (and the given files stored in clear
        before sealing); return how many objects were removed."""
        objects = self.root / "objects" / check_application(application_id)
        removed = sum(1 for p in objects.rglob("*") if p.is_file()) if objects.exists() else 0
        shutil.rmtree(objects, ignore_errors=True)
        shutil.rmtree(self._pending(application_id), ignore_errors=True)
        self._received(application_id).unlink(missing_ok=True)
        for sha in legacy:
            path = self.path_for(sha)
            if path.exists():
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def erase_files(settings: Settings, application_id: str, session: Session | None = None) -> int:
    """Remove every file of the application from DATA_DIR; return how many were removed.

    Given a session, files the application uploaded before sealing existed (stored in clear,
    content-addressed across applications) go too, unless another application's answer has the
    same content."""
    legacy: tuple[str, ...] = ()
    if session is not None:
        legacy = tuple(legacy_files_of(session, settings, application_id))
    return FileStore(settings.DATA_DIR).erase(application_id, legacy)


def legacy_files_of(session: Session, settings: Settings, application_id: str) -> list[str]:
    """Digests of the application's files stored in clear before sealing that no other
    application's answer references."""
    store = FileStore(settings.DATA_DIR)
    mine = session.exec(
        select(Answer.file_sha256).where(
            Answer.application_id == application_id, col(Answer.file_sha256).is_not(None)
        )
    ).all()
    digests = []
    for sha in {s for s in mine if s}:
        if not store.path_for(sha).exists():
            continue
        shared = session.exec(
            select(Answer.id).where(Answer.file_sha256 == sha, Answer.application_id != application_id)
        ).first()
        if shared is None:
            digests.append(sha)
    return digests
