"""Answers that are files: a size limit per question type, the type read from the content (never
from the client), the recorded duration measured, then storage sealed with the application's data
key (offhours.storage); and serving them back to staff, decrypted on the fly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from api.errors import ApiError, Gone, LengthRequired, PayloadTooLarge, TooManyRequests, Unprocessable
from offhours.contracts import AnswerInput
from offhours.media import RejectedUpload, inspect_upload
from offhours.models import Answer, DataKey
from offhours.settings import Settings
from offhours.storage import (
    CHUNK,
    FileGone,
    FileStore,
    FileTooLarge,
    FileUnreadable,
    StoredFile,
    TooManyUploads,
)
from offhours.vault import Erased, Vault
from pipelines.stages import Question

log = logging.getLogger("offhours.api")
ERASED = "this file has been erased"


def check_declared_length(request: Request, settings: Settings) -> None:
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise LengthRequired("send the upload with a Content-Length header")
    if int(declared) > settings.MAX_UPLOAD_BYTES + 64 * 1024:
        raise PayloadTooLarge(f"the upload is larger than the limit of {settings.MAX_UPLOAD_BYTES} bytes")


def upload_limit(settings: Settings, question: Question) -> int:
    by_type = {"video": settings.MAX_VIDEO_BYTES, "audio": settings.MAX_AUDIO_BYTES}
    limits = [by_type.get(question.type, settings.MAX_FILE_BYTES), settings.MAX_UPLOAD_BYTES]
    if question.max_bytes is not None:
        limits.append(question.max_bytes)
    return min(limits)


def describe_size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.0f} {unit}"
    return f"{size} bytes"


def too_large(question: Question, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the upload is larger than {describe_size(limit)}, the limit for question '{question.id}'",
        errors=[{"field": "file", "message": f"at most {describe_size(limit)}"}],
        limit_bytes=limit,
    )


def too_many_uploads(limit: int) -> TooManyRequests:
    return TooManyRequests(
        f"this application has already received {limit} uploads, the most it accepts; the answers "
        "you have sent are kept. If one of them must still change, write to your contact person",
        limit=limit,
    )


def refuse_over_upload_quota(settings: Settings, application_id: str) -> None:
    """Refuse before a byte is received once the application has had its uploads (the store
    checks again, under its lock, when the upload is sealed)."""
    limit = settings.MAX_UPLOADS_PER_APPLICATION
    if FileStore(settings.DATA_DIR).uploads_received(application_id) >= limit:
        raise too_many_uploads(limit)


async def chunks_of(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


async def receive_file(
    chunks: AsyncIterable[bytes],
    settings: Settings,
    question: Question,
    received_at: datetime,
    *,
    application_id: str,
    key: bytes,
) -> tuple[AnswerInput, StoredFile]:
    """Store an uploaded answer, sealed with the application's data key, once it has passed its size
    limit and content inspection; no plaintext of it stays on disk, whatever the outcome. The
    returned file is held until `release_upload` or `forget_if_unused` is called with it. Over
    the application's upload quota, 429 and nothing stored."""
    refuse_over_upload_quota(settings, application_id)
    limit = upload_limit(settings, question)
    incoming = FileStore(settings.DATA_DIR).incoming(limit)
    try:
        async for chunk in chunks:  # disk writes off the event loop: other requests keep flowing
            await asyncio.to_thread(incoming.write, chunk)
        path = await asyncio.to_thread(incoming.finish)
        if incoming.size == 0:
            raise Unprocessable("the upload is empty; choose the file again", errors=[{"field": "file"}])
        inspected = await asyncio.to_thread(inspect_upload, path, question.type)
        stored = await asyncio.to_thread(
            incoming.seal, application_id, key, settings.MAX_UPLOADS_PER_APPLICATION
        )
    except FileTooLarge:
        raise too_large(question, limit) from None
    except TooManyUploads as error:
        raise too_many_uploads(error.limit) from None
    except RejectedUpload as error:
        raise Unprocessable(str(error), errors=[{"field": "file", "message": str(error)}]) from None
    finally:
        incoming.discard()  # the plaintext goes, whatever happened (a no-op once sealed)
    # Neutral (never the candidate's own name: reviews can be blind), ending as what the content is.
    stem = f"answer-{question.id}.{inspected.extension}"
    answer = AnswerInput(
        question_id=question.id,
        kind="file",
        file_sha256=stored.sha256,
        file_name=stem,
        content_type=inspected.content_type,
        size=stored.size,
        upload_seconds=(datetime.now(UTC) - received_at).total_seconds(),
        duration_seconds=inspected.duration_seconds,
    )
    return answer, stored


def forget_if_unused(session: Session, settings: Settings, stored: StoredFile) -> None:
    """After the workflow refused an upload, remove its sealed file unless an answer of the same
    application points at the same content or another upload of it is still in flight."""

    def in_use() -> bool:
        query = select(Answer.id).where(
            Answer.application_id == stored.application_id, Answer.file_sha256 == stored.sha256
        )
        return session.exec(query).first() is not None

    FileStore(settings.DATA_DIR).forget(stored, in_use)


def release_upload(settings: Settings, stored: StoredFile) -> None:
    """The workflow accepted the upload: keep the file, drop the hold."""
    FileStore(settings.DATA_DIR).release(stored)


def remove_replaced(session: Session, settings: Settings, application_id: str, replaced: str | None) -> None:
    """After an upload replaced an answer's file (the new answer committed by the workflow's
    activity): remove the old file unless an answer still references it, and any other of the
    application's files that no answer references and no upload in flight holds (left over by
    replacements that raced, once their holds have expired).

    A sealed file is the application's own, so only its answers can reference it; the check runs
    under the store's lock for the application, which an upload holds its file through until its
    answer is decided, so identical bytes uploaded at the same time never lose their file. A file
    stored in clear before sealing is shared by content: it goes only when no answer of any
    application references it (no upload writes one any more, so nothing is in flight for it)."""
    session.commit()  # end any read transaction: what follows must see the answers committed since
    store = FileStore(settings.DATA_DIR)

    def referenced() -> set[str]:
        rows = session.exec(
            select(Answer.file_sha256).where(
                Answer.application_id == application_id, col(Answer.file_sha256).is_not(None)
            )
        ).all()
        return {sha for sha in rows if sha}

    sealed = replaced is not None and store.sealed_path(application_id, replaced).exists()
    removed = store.collect(application_id, referenced, [replaced] if sealed and replaced else [])
    if removed:
        log.info("application %s: removed %d file(s) no answer references", application_id, len(removed))
    if replaced is None or sealed or not store.path_for(replaced).exists():
        return
    shared = session.exec(select(Answer.id).where(Answer.file_sha256 == replaced)).first()
    if shared is None:
        store.path_for(replaced).unlink(missing_ok=True)
        log.info("application %s: removed a replaced file stored before sealing", application_id)


# ------------------------------------------------------------------------------ serving to staff


class FileDamaged(ApiError):
    """The sealed copy does not authenticate. Its details go to the log, never to the client."""

    status_code = 409


class RangeNotSatisfiable(ApiError):
    status_code = 416


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single range `bytes=a-b`, `bytes=a-` or `bytes=-n` asked for, as [start, end); None for
    the whole file (no header, several ranges or one not understood: RFC 9110 lets us send it all)."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    first, dash, last = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or "," in spec or not dash:
        return None
    try:
        if first.strip():
            start = int(first)
            end = int(last) + 1 if last.strip() else size
        else:
            start, end = max(size - int(last), 0), size
    except ValueError:
        return None
    end = min(end, size)
    if start < 0 or start >= end:
        raise RangeNotSatisfiable(
            f"the file has {size} bytes; range '{header}' is outside it",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


def serve_answer_file(request: Request, session: Session, settings: Settings, answer: Answer) -> Response:
    """The answer's file, decrypted chunk by chunk as it streams (single byte ranges served on
    chunk boundaries, so a player can seek); 410 once erased, 409 if the stored copy was altered."""
    assert answer.file_sha256 is not None
    sha, application_id = answer.file_sha256, answer.application_id
    store = FileStore(settings.DATA_DIR)
    name = answer.file_name or "answer"
    quoted = quote(name)
    disposition = (
        f"attachment; filename*=utf-8''{quoted}" if quoted != name else f'attachment; filename="{name}"'
    )
    headers = {
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": disposition,
        "Accept-Ranges": "bytes",
    }
    media_type = answer.content_type or "application/octet-stream"
    data_key = session.get(DataKey, application_id)
    if data_key is not None and data_key.wrapped is None:
        raise Gone(ERASED)
    if not store.sealed_path(application_id, sha).exists():
        legacy = store.path_for(sha)  # stored in clear before files were sealed
        if legacy.exists():
            return FileResponse(legacy, media_type=media_type, filename=name, headers=headers)
        raise Gone(ERASED)
    try:
        key = Vault(settings).key(session, application_id, create=False)
        sealed = store.open(application_id, sha, key)
    except (Erased, FileGone):
        raise Gone(ERASED) from None
    except FileUnreadable as error:
        raise _damaged(answer, error) from None
    with sealed:
        size, chunk = sealed.size, sealed.chunk
        asked = byte_range(request.headers.get("range"), size)
        start, end = asked or (0, size)
        index = start // chunk
        try:  # the first chunk is checked before the status is sent: a bad key or copy is an error
            first = sealed.read_chunk(index) if start < end else b""
        except FileUnreadable as error:
            raise _damaged(answer, error) from None

    def body() -> Iterator[bytes]:
        offset = index * chunk
        yield first[start - offset : end - offset]
        if end > offset + chunk:
            try:
                with store.open(application_id, sha, key) as rest:
                    yield from rest.read(offset + chunk, end)
            except (FileGone, FileUnreadable) as error:  # headers are gone: all we can do is cut
                _damaged(answer, error)
                raise

    headers["Content-Length"] = str(end - start)
    if asked is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(
        body(), status_code=206 if asked else 200, media_type=media_type, headers=headers
    )


def _damaged(answer: Answer, error: Exception) -> FileDamaged:
    log.error(
        "the sealed file of answer %s (application %s, sha256 %s) cannot be served: %s",
        answer.id,
        answer.application_id,
        answer.file_sha256,
        error,
    )
    return FileDamaged(
        "the stored copy of this file failed its integrity check (it was altered or damaged) "
        "and cannot be served"
    )
