"""The sealed file format: uploads encrypted with their application's data key (crypto-shredding).

A sealed file streams: a header `OHF1 | chunk size (u32) | plaintext size (u64)`, then one record
per chunk of plaintext, `nonce(12) | AES-256-GCM(chunk) + tag(16)`. Every chunk but the last holds
exactly `chunk size` bytes; the last holds fewer (possibly none), so the number of chunks follows
from the size. Each chunk is authenticated with the header, the application id, the sha256, its
index and a final-chunk flag: a file truncated, extended, reordered, renamed or moved to another
application does not open. Nothing but one chunk is ever held in memory.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK = 1024 * 1024
MAGIC = b"OHF1"
HEADER = struct.Struct(">4sIQ")  # magic, chunk size, plaintext size
NONCE = 12
TAG = 16
MAX_CHUNK = 64 * 1024 * 1024  # a header asking for more is not one of ours
HOLD_SECONDS = 3600  # an upload's hold outlives any workflow update; a crashed request's expires
_APPLICATION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class FileTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.limit = limit


class TooManyUploads(Exception):
    """The application has received as many uploads as it may: nothing more is stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the application has received its {limit} uploads")
        self.limit = limit


class FileGone(Exception):
    """The file is not stored (any more): erased, or never kept."""


class FileUnreadable(Exception):
    """A sealed file does not open: altered, truncated, or sealed for another application or name."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    path: Path
    created: bool = True  # False when the same content was already stored for the application
    application_id: str | None = None
    hold: Path | None = None  # this upload's claim on the object until its answer is decided


def check_sha(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return sha256


def check_application(application_id: str) -> str:
    if not _APPLICATION_ID.fullmatch(application_id) or len(application_id) == 2:
        raise ValueError("not an application id")  # two characters would be a legacy digest prefix
    return application_id


# ---------------------------------------------------------------------------------- the format


def chunk_count(size: int, chunk: int = CHUNK) -> int:
    """Chunks in a sealed file of `size` plaintext bytes: the last one is always short (or empty)."""
    return size // chunk + 1


def sealed_length(size: int, chunk: int = CHUNK) -> int:
    return HEADER.size + chunk_count(size, chunk) * (NONCE + TAG) + size


def _associated(header: bytes, application_id: str, sha256: str, index: int, final: bool) -> bytes:
    return b"".join(
        (
            b"offhours.file.v1\x00",
            header,
            application_id.encode(),
            b"\x00",
            sha256.encode(),
            struct.pack(">QB", index, int(final)),
        )
    )


def seal_stream(
    source: BinaryIO, target: BinaryIO, key: bytes, application_id: str, sha256: str, size: int
) -> None:
    """Write `size` bytes of `source` to `target`, sealed chunk by chunk."""
    header = HEADER.pack(MAGIC, CHUNK, size)
    target.write(header)
    aead = AESGCM(key)
    count = chunk_count(size)
    for index in range(count):
        final = index == count - 1
        plain = source.read(size % CHUNK if final else CHUNK)
        if len(plain) != (size % CHUNK if final else CHUNK):
            raise OSError("the file changed while it was being sealed")
        nonce = os.urandom(NONCE)
        target.write(
            nonce + aead.encrypt(nonce, plain, _associated(header, application_id, sha256, index, final))
        )
    if source.read(1):
        raise OSError("the file changed while it was being sealed")


class SealedFile:
    """A sealed file opened for reading: `size` plaintext bytes, decrypted one chunk at a time."""

    def __init__(self, path: Path, application_id: str, sha256: str, key: bytes) -> None:
        self.path = path
        self.application_id = application_id
        self.sha256 = sha256
        self._aead = AESGCM(key)
        try:
            self._file: BinaryIO = path.open("rb")
        except FileNotFoundError:
            raise FileGone(f"{sha256} is not stored for application {application_id}") from None
        try:
            self._header = self._file.read(HEADER.size)
            if len(self._header) != HEADER.size:
                raise FileUnreadable("the sealed file has no header")
            magic, self.chunk, self.size = HEADER.unpack(self._header)
            if magic != MAGIC or not 0 < self.chunk <= MAX_CHUNK:
                raise FileUnreadable("not a sealed file")
            if os.fstat(self._file.fileno()).st_size != sealed_length(self.size, self.chunk):
                raise FileUnreadable("the sealed file has been truncated or extended")
        except BaseException:
            self._file.close()
            raise
        self.chunks = chunk_count(self.size, self.chunk)

    def __enter__(self) -> SealedFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def read_chunk(self, index: int) -> bytes:
        final = index == self.chunks - 1
        length = self.size % self.chunk if final else self.chunk
        self._file.seek(HEADER.size + index * (NONCE + TAG + self.chunk))
        record = self._file.read(NONCE + length + TAG)
        if len(record) != NONCE + length + TAG:
            raise FileUnreadable("the sealed file has been truncated")
        associated = _associated(self._header, self.application_id, self.sha256, index, final)
        try:
            return self._aead.decrypt(record[:NONCE], record[NONCE:], associated)
        except InvalidTag:
            raise FileUnreadable(f"chunk {index} of the sealed file does not authenticate") from None

    def read(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The plaintext bytes [start, end), chunk by chunk; every chunk is authenticated first."""
        end = self.size if end is None else min(end, self.size)
        if start >= end:
            if self.size == 0:
                self.read_chunk(0)  # an empty file still proves its key, application and name
            return
        for index in range(start // self.chunk, (end - 1) // self.chunk + 1):
            plain = self.read_chunk(index)
            offset = index * self.chunk
            yield plain[max(start - offset, 0) : end - offset]


# ---------------------------------------------------------------------------------- receiving
