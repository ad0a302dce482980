"""Uploaded files are sealed with their application's data key, so destroying the key erases them.

The format (offhours.storage) is checked directly: chunks authenticated with their index, a final
flag, the application and the digest, so cutting, reordering, renaming or moving a file is caught.
Then through the real API (Temporal dev server, worker, SQLite, SMTP): a candidate uploads a file
and a recording; no plaintext of them is left under DATA_DIR; staff download exactly the original
bytes (byte ranges too, which a video player seeks with); an altered copy is refused with a clear
error; once the key is destroyed the download says the file has been erased and `erase_files`
leaves nothing of the application behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel import Session, select

from offhours.models import Answer
from offhours.settings import Settings
from offhours.storage import (
    CHUNK,
    FileGone,
    FileStore,
    FileUnreadable,
    erase_files,
    sealed_length,
)
from offhours.storage.sealing import HEADER, NONCE, TAG
from offhours.vault import Vault
from pipelines.registry import PIPELINES, Pipeline, validate
from pipelines.stages import Criterion, Decision, Interview, Invite, Question, Review
from tests.support.actors import STAFF, unique_email
from tests.support.mail import token_from
from tests.support.samples import PDF, webm
from tests.support.stack import Stack

APP = "app_0123456789abcdef0123"
OTHER = "app_fedcba9876543210fedc"


def key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def sealed(
    store: FileStore, content: bytes, application_id: str = APP, data_key: bytes | None = None
) -> Path:
    stored = store.put(io.BytesIO(content), len(content) + 1, application_id, data_key or key())
    store.release(stored)
    return stored.path


def everything_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def plaintext_anywhere(root: Path, marker: bytes) -> list[Path]:
    """Every file under `root` whose bytes contain `marker` (read whole: test files are small)."""
    return [p for p in everything_under(root) if marker in p.read_bytes()]


# ---------------------------------------------------------------------------------- the format


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 12345])
def test_a_sealed_file_opens_to_its_bytes_and_holds_none_in_clear(tmp_path: Path, size: int) -> None:
    content = os.urandom(size)
    store, data_key = FileStore(tmp_path), key()
    path = sealed(store, content, data_key=data_key)
    sha = hashlib.sha256(content).hexdigest()
    assert path == tmp_path / "objects" / APP / sha[:2] / sha[2:]
    assert path.stat().st_size == sealed_length(size)
    with store.open(APP, sha, data_key) as opened:
        assert opened.size == size
        assert b"".join(opened.read()) == content
        assert b"".join(opened.read(CHUNK - 10, CHUNK + 10)) == content[CHUNK - 10 : CHUNK + 10]
        assert b"".join(opened.read(size // 2)) == content[size // 2 :]
    assert store.verify(sha, APP, data_key)
    assert not store.verify(sha, APP, key()), "another key does not open it"
    if size >= 64:
        assert not plaintext_anywhere(tmp_path, content[size // 2 : size // 2 + 64])
    assert [p.name for p in (tmp_path / "incoming").iterdir()] == []


def test_cutting_reordering_renaming_or_moving_a_sealed_file_is_detected(tmp_path: Path) -> None:
    content = os.urandom(3 * CHUNK + 100)
    sha = hashlib.sha256(content).hexdigest()
    store, data_key = FileStore(tmp_path), key()
    path = sealed(store, content, data_key=data_key)
    original = path.read_bytes()
    record = NONCE + CHUNK + TAG

    def reads(blob: bytes, application_id: str = APP, name: str = sha) -> None:
        target = store.sealed_path(application_id, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
        with pytest.raises(FileUnreadable), store.open(application_id, name, data_key) as opened:
            b"".join(opened.read())

    reads(original[: HEADER.size + 2 * record])  # cut on a chunk boundary: the final chunk is missing
    reads(original[:-1])  # cut inside the last chunk
    reads(original + b"\0")  # extended
    chunks = [original[HEADER.size + i * record : HEADER.size + (i + 1) * record] for i in range(3)]
    reads(original[: HEADER.size] + chunks[1] + chunks[0] + original[HEADER.size + 2 * record :])
    flipped = bytearray(original)
    flipped[HEADER.size + record + 500] ^= 1
    reads(bytes(flipped))  # one bit in the second chunk
    # The last chunk of a shorter file sealed with the same key is no final chunk for this one.
    other_sha = hashlib.sha256(b"x" * 10).hexdigest()
    sealed(store, b"x" * 10, data_key=data_key)
    other = store.sealed_path(APP, other_sha).read_bytes()
    reads(original[: HEADER.size + 3 * record] + other[HEADER.size :])
    header = bytearray(original[: HEADER.size])
    header[-1] ^= 1  # a size that claims one byte less or more
    reads(bytes(header) + original[HEADER.size :])

    path.write_bytes(original)
    reads(original, application_id=OTHER)  # moved to another application (with the same key, even)
    reads(original, name=hashlib.sha256(b"something else").hexdigest())  # renamed to other content
    with store.open(APP, sha, data_key) as opened:
        assert b"".join(opened.read()) == content  # the untouched copy still opens
    with pytest.raises(FileGone):
        store.open(APP, hashlib.sha256(b"never stored").hexdigest(), data_key)


def test_a_refused_upload_never_removes_the_copy_another_upload_in_flight_holds(tmp_path: Path) -> None:
    store, data_key = FileStore(tmp_path), key()
    content = os.urandom(5000)
    first = store.put(io.BytesIO(content), 10_000, APP, data_key)
    second = store.put(io.BytesIO(content), 10_000, APP, data_key)
    assert first.created
    assert not second.created
    assert first.path == second.path
    # The first upload is refused while the second is still being decided: the copy stays.
    assert not store.forget(first, in_use=lambda: False)
    assert second.path.exists()
    # The second is accepted: its answer points at the copy, which a later refusal keeps.
    store.release(second)
    third = store.put(io.BytesIO(content), 10_000, APP, data_key)
    assert not store.forget(third, in_use=lambda: True)
    assert store.verify(first.sha256, APP, data_key)
    # Nobody points at it any more: a refusal removes it.
    fourth = store.put(io.BytesIO(content), 10_000, APP, data_key)
    assert store.forget(fourth, in_use=lambda: False)
    assert not fourth.path.exists()
    # Another application's copy of the same bytes is its own.
    mine = store.put(io.BytesIO(content), 10_000, APP, data_key)
    theirs = store.put(io.BytesIO(content), 10_000, OTHER, key())
    assert mine.path != theirs.path
    assert mine.created
    assert theirs.created
    assert store.forget(theirs, in_use=lambda: False)
    assert mine.path.exists()


def test_erasing_removes_every_object_of_the_application_and_only_its(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    for n in range(3):
        sealed(store, f"file {n}".encode())
    kept = sealed(store, b"file 0", application_id=OTHER)
    assert store.erase(APP) == 3
    assert not [p for p in tmp_path.rglob("*") if APP in str(p)]
    assert kept.exists()
    assert store.erase(APP) == 0


# ---------------------------------------------------------------------------------- the product

SEALING = Pipeline(
    name="file-sealing",
    title="Uploads sealed per application",
    stages=(
        Invite(),
        Interview(
            questions=(
                Question("intro", "Introduce yourself on camera", "video"),
                Question(
                    "timed", "Answer this one within a minute", "video", think_time=30, answer_time_limit=60
                ),
                Question("cv", "Upload your CV", "file", required=False),
            )
        ),
        Review(criteria=(Criterion("clarity", "Clarity", ("1", "2", "3", "4", "5")),)),
        Decision(),
    ),
)


@pytest.fixture
def sealing(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(PIPELINES, SEALING.name, validate(SEALING))
    return SEALING.name


async def invited(stack: Stack, pipeline: str) -> tuple[str, str]:
    job = await stack.create_job("Support engineer", pipeline=pipeline)
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [mail] = await stack.mailbox.wait_for(address, 1)
    token = token_from(mail.link())
    version = (await stack.http.get(f"/api/v1/candidate/{token}")).json()["consent_version"]
    agreed = await stack.http.post(f"/api/v1/candidate/{token}/consent", json={"version": version})
    assert agreed.status_code == 200, agreed.text
    return application["id"], token


async def upload(stack: Stack, token: str, question_id: str, name: str, content: bytes) -> httpx.Response:
    return await stack.http.post(
        f"/api/v1/candidate/{token}/answers",
        data={"question_id": question_id},
        files={"file": (name, content, "application/octet-stream")},
    )


async def download_url(stack: Stack, application_id: str, question_id: str) -> str:
    signed = await stack.http.get(
        f"/api/v1/applications/{application_id}/answers/{question_id}/file", headers=STAFF
    )
    assert signed.status_code == 200, signed.text
    return str(signed.json()["url"])


def sealed_object(settings: Settings, application_id: str, content: bytes) -> Path:
    return FileStore(settings.DATA_DIR).sealed_path(application_id, hashlib.sha256(content).hexdigest())


def a_cv(marker: bytes) -> bytes:
    """A PDF of a little over two chunks, with a distinctive line in its middle."""
    filler = os.urandom(CHUNK)
    return PDF + b"%" + filler + b"\n%" + marker + b"\n%" + filler + b"\n%%EOF\n"


async def test_uploads_are_sealed_at_rest_and_served_back_exactly(stack: Stack, sealing: str) -> None:
    application_id, token = await invited(stack, sealing)
    marker = b"MARKER-" + os.urandom(8).hex().encode() + b"-CURRICULUM-VITAE"
    cv, recording = a_cv(marker), webm(2.0)
    assert (await upload(stack, token, "cv", "cv.pdf", cv)).status_code == 200
    assert (await upload(stack, token, "intro", "clip.webm", recording)).status_code == 200

    data = stack.settings.DATA_DIR
    assert sealed_object(stack.settings, application_id, cv).exists()
    assert sealed_object(stack.settings, application_id, recording).exists()
    probes = [marker, recording[len(recording) // 2 : len(recording) // 2 + 48], recording[-48:]]
    for probe in probes:
        assert not plaintext_anywhere(data, probe), "plaintext of an upload is stored"
    assert not [p for p in (data / "incoming").iterdir()], "an incoming file was left behind"
    assert not [p for p in (data / "pending").rglob("*") if p.is_file() and p.name != ".lock"], (
        "an upload's hold was left"
    )

    served = await stack.http.get(await download_url(stack, application_id, "cv"))
    assert served.status_code == 200, served.text
    assert served.content == cv
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-length"] == str(len(cv))
    assert served.headers["content-disposition"] == 'attachment; filename="answer-cv.pdf"'
    assert served.headers["cache-control"] == "private, no-store"
    assert served.headers["accept-ranges"] == "bytes"

    video = await stack.http.get(await download_url(stack, application_id, "intro"))
    assert video.status_code == 200
    assert video.content == recording
    assert video.headers["content-type"] == "video/webm"

    # Ranges, as a player seeks: across a chunk boundary, open-ended, a suffix, and out of bounds.
    url = await download_url(stack, application_id, "cv")
    for asked, start, end in (
        (f"bytes={CHUNK - 100}-{CHUNK + 99}", CHUNK - 100, CHUNK + 100),
        (f"bytes={CHUNK + 5}-", CHUNK + 5, len(cv)),
        ("bytes=-300", len(cv) - 300, len(cv)),
        ("bytes=0-0", 0, 1),
    ):
        part = await stack.http.get(url, headers={"Range": asked})
        assert part.status_code == 206, (asked, part.text)
        assert part.content == cv[start:end], asked
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{len(cv)}"
        assert part.headers["content-length"] == str(end - start)
    outside = await stack.http.get(url, headers={"Range": f"bytes={len(cv)}-"})
    assert outside.status_code == 416
    assert outside.headers["content-range"] == f"bytes */{len(cv)}"

    with Session(stack.engine) as session:
        data_key = Vault(stack.settings).key(session, application_id, create=False)
    assert FileStore(data).verify(hashlib.sha256(cv).hexdigest(), application_id, data_key)


async def test_an_altered_or_cut_copy_is_refused_with_a_clear_error(stack: Stack, sealing: str) -> None:
    application_id, token = await invited(stack, sealing)
    cv = a_cv(b"ALTERED")
    assert (await upload(stack, token, "cv", "cv.pdf", cv)).status_code == 200
    path = sealed_object(stack.settings, application_id, cv)
    original = path.read_bytes()

    for damaged in (
        original[: HEADER.size + 40] + bytes([original[HEADER.size + 40] ^ 1]) + original[HEADER.size + 41 :],
        original[: HEADER.size + 2 * (NONCE + CHUNK + TAG)],  # the final chunk cut off
        original[:-10],
    ):
        path.write_bytes(damaged)
        refused = await stack.http.get(await download_url(stack, application_id, "cv"))
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert "failed its integrity check" in body["detail"]
        assert set(body) == {"detail"}
        assert "Traceback" not in refused.text
        assert "InvalidTag" not in refused.text

    path.write_bytes(original)
    assert (await stack.http.get(await download_url(stack, application_id, "cv"))).content == cv


async def test_after_the_key_is_destroyed_the_file_is_erased(stack: Stack, sealing: str) -> None:
    application_id, token = await invited(stack, sealing)
    marker = b"ERASE-ME-" + os.urandom(8).hex().encode()
    cv, recording = a_cv(marker), webm(1.0)
    assert (await upload(stack, token, "cv", "cv.pdf", cv)).status_code == 200
    assert (await upload(stack, token, "intro", "clip.webm", recording)).status_code == 200
    url = await download_url(stack, application_id, "cv")
    assert (await stack.http.get(url)).content == cv

    with Session(stack.engine) as session:
        Vault(stack.settings).destroy(session, application_id)
        session.commit()
    erased = await stack.http.get(url)
    assert erased.status_code == 410, erased.text
    assert erased.json()["detail"] == "this file has been erased"

    assert erase_files(stack.settings, application_id) == 2
    data = stack.settings.DATA_DIR
    assert not [p for p in data.rglob("*") if application_id in str(p)]
    assert not plaintext_anywhere(data, marker)
    gone = await stack.http.get(await download_url(stack, application_id, "intro"))
    assert gone.status_code == 410
    assert gone.json()["detail"] == "this file has been erased"


async def test_a_removed_file_reads_as_erased(stack: Stack, sealing: str) -> None:
    application_id, token = await invited(stack, sealing)
    assert (await upload(stack, token, "cv", "cv.pdf", PDF)).status_code == 200
    assert erase_files(stack.settings, application_id) == 1
    gone = await stack.http.get(await download_url(stack, application_id, "cv"))
    assert gone.status_code == 410
    assert gone.json()["detail"] == "this file has been erased"


async def test_a_file_stored_in_clear_before_sealing_still_downloads(stack: Stack, sealing: str) -> None:
    """A deployment upgrading keeps its files: objects/<sha[:2]>/<sha[2:]> is read when the
    application has no sealed copy; erasure with a session removes it too."""
    application_id, token = await invited(stack, sealing)
    assert (await upload(stack, token, "cv", "cv.pdf", PDF)).status_code == 200
    store = FileStore(stack.settings.DATA_DIR)
    sha = hashlib.sha256(PDF).hexdigest()
    store.sealed_path(application_id, sha).unlink()
    legacy = store.path_for(sha)
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_bytes(PDF)
    assert store.verify(sha)

    served = await stack.http.get(await download_url(stack, application_id, "cv"))
    assert served.status_code == 200
    assert served.content == PDF
    assert served.headers["content-type"] == "application/pdf"

    with Session(stack.engine) as session:
        assert erase_files(stack.settings, application_id, session) == 1
    assert not legacy.exists()


async def test_racing_uploads_of_the_same_bytes_keep_the_accepted_one(stack: Stack, sealing: str) -> None:
    """Two uploads of one recording at once, one refused (its question was never opened): the
    refusal must not take the file the accepted answer points at."""
    application_id, token = await invited(stack, sealing)
    recording = webm(1.0)
    for _ in range(3):
        accepted, refused = await asyncio.gather(
            upload(stack, token, "intro", "a.webm", recording),
            upload(stack, token, "timed", "b.webm", recording),
        )
        assert accepted.status_code == 200, accepted.text
        assert refused.status_code == 409, refused.text
        assert sealed_object(stack.settings, application_id, recording).exists()
    with Session(stack.engine) as session:
        answer = session.exec(
            select(Answer).where(Answer.application_id == application_id, Answer.question_id == "intro")
        ).one()
        assert answer.file_sha256 == hashlib.sha256(recording).hexdigest()
    served = await stack.http.get(await download_url(stack, application_id, "intro"))
    assert served.status_code == 200
    assert served.content == recording
    assert not [
        p for p in (stack.settings.DATA_DIR / "pending").rglob("*") if p.is_file() and p.name != ".lock"
    ]
