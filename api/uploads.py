"""Answers that are files: a size limit per question type, the type read from the content (never
from the client), the recorded duration measured, then content-addressed storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime

from sqlmodel import Session, select
from starlette.datastructures import UploadFile

from api.errors import PayloadTooLarge, Unprocessable
from offhours.contracts import AnswerInput
from offhours.media import RejectedUpload, inspect_upload
from offhours.models import Answer
from offhours.settings import Settings
from offhours.storage import CHUNK, FileStore, FileTooLarge, StoredFile
from pipelines.stages import Question


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


async def chunks_of(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


async def receive_file(
    chunks: AsyncIterable[bytes],
    settings: Settings,
    question: Question,
    file_name: str,
    received_at: datetime,
) -> tuple[AnswerInput, StoredFile]:
    """Store an uploaded answer once it has passed its size limit and content inspection."""
    limit = upload_limit(settings, question)
    incoming = FileStore(settings.DATA_DIR).incoming(limit)
    try:
        async for chunk in chunks:  # disk writes off the event loop: other requests keep flowing
            await asyncio.to_thread(incoming.write, chunk)
        path = await asyncio.to_thread(incoming.finish)
        if incoming.size == 0:
            raise Unprocessable("the upload is empty; choose the file again", errors=[{"field": "file"}])
        inspected = await asyncio.to_thread(inspect_upload, path, question.type)
        stored = await asyncio.to_thread(incoming.commit)
    except FileTooLarge:
        raise too_large(question, limit) from None
    except RejectedUpload as error:
        raise Unprocessable(str(error), errors=[{"field": "file", "message": str(error)}]) from None
    finally:
        incoming.discard()  # nothing left behind unless committed (a no-op then)
    # The name staff download it under ends as what the content is, whatever the client called it.
    base = file_name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].rsplit(".", 1)[0][:200]
    if question.type in ("video", "audio") or not base:
        base = f"answer-{question.id}"
    stem = f"{base}.{inspected.extension}"
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
    """After the workflow refused an upload, remove the file if this upload created it and no answer
    points at the same content."""
    if not stored.created:
        return
    used = session.exec(select(Answer.id).where(Answer.file_sha256 == stored.sha256)).first()
    if used is None:
        FileStore(settings.DATA_DIR).remove(stored.sha256)
