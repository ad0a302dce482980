"""File storage under DATA_DIR: uploads sealed with their application's data key.

`files` keeps them (incoming, sealed objects, holds, quotas, erasure); `sealing` is the format.
"""

from offhours.storage.files import FileStore, Incoming, erase_files, legacy_files_of
from offhours.storage.sealing import (
    CHUNK,
    HOLD_SECONDS,
    FileGone,
    FileTooLarge,
    FileUnreadable,
    SealedFile,
    StoredFile,
    TooManyUploads,
    chunk_count,
    seal_stream,
    sealed_length,
)

__all__ = [
    "CHUNK",
    "HOLD_SECONDS",
    "FileGone",
    "FileStore",
    "FileTooLarge",
    "FileUnreadable",
    "Incoming",
    "SealedFile",
    "StoredFile",
    "TooManyUploads",
    "chunk_count",
    "erase_files",
    "legacy_files_of",
    "seal_stream",
    "sealed_length",
]
