"""Content-addressed file storage under DATA_DIR: a file's path is its sha256, written atomically.

An upload is first written to `incoming/` while its digest and size are computed (refused as soon
as it passes its limit), can be inspected there, and only then moves to `objects/<sha256>`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


class FileTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    path: Path
    created: bool = True  # False when the same content was already stored


class Incoming:
    """A file being received: write chunks, then commit it into the store or discard it."""

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
        """Flush to disk; the file can be inspected at the returned path before it is committed."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        return self.path

    def commit(self) -> StoredFile:
        self.finish()
        sha = self._digest.hexdigest()
        final = self.store.path_for(sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            self.path.unlink(missing_ok=True)
            return StoredFile(sha, self.size, final, created=False)
        os.replace(self.path, final)
        return StoredFile(sha, self.size, final, created=True)

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / "objects" / sha256[:2] / sha256[2:]

    def incoming(self, max_bytes: int) -> Incoming:
        return Incoming(self, max_bytes)

    def put(self, source: BinaryIO, max_bytes: int) -> StoredFile:
        """Stream `source` into the store, refusing more than `max_bytes`; return its digest."""
        incoming = self.incoming(max_bytes)
        try:
            while chunk := source.read(CHUNK):
                incoming.write(chunk)
            return incoming.commit()
        except BaseException:
            incoming.discard()
            raise

    def remove(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)

    def verify(self, sha256: str) -> bool:
        path = self.path_for(sha256)
        if not path.exists():
            return False
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == sha256
