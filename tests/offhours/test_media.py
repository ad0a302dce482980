"""offhours.media against real files: recordings are encoded here with PyAV's bundled FFmpeg (VP8/Opus
WebM, a duration-less "live" WebM like Chrome's MediaRecorder writes, H.264/AAC MP4, ...), documents
are real PDF/PNG/JPEG/DOCX/ODT/text bytes, and the refusals are the files candidates really send."""

from __future__ import annotations

import random
import zipfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest

from offhours.media import ACCEPTED, DOCX, ODT, Inspected, RejectedUpload, _scan_duration, inspect_upload
from tests.support.samples import PDF, SECONDS, encoder, record

TOLERANCE = 0.3


# ----------------------------------------------------------------------------------- makers


def image(path: Path, codec: str, pix_fmt: str) -> Path:
    """A single real encoded picture: one PNG or JPEG packet is a complete image file."""
    context = av.CodecContext.create(codec, "w")
    assert isinstance(context, av.VideoCodecContext)
    context.width, context.height, context.pix_fmt = 32, 24, pix_fmt
    context.time_base = Fraction(1, 25)
    picture = av.VideoFrame(32, 24, "rgb24").reformat(format=pix_fmt)
    path.write_bytes(b"".join(bytes(packet) for packet in [*context.encode(picture), *context.encode(None)]))
    return path


def accepted(path: Path, question_type: str) -> Inspected:
    inspected = inspect_upload(path, question_type)
    assert inspected.content_type in ACCEPTED[question_type]
    return inspected


def rejected(path: Path, question_type: str) -> str:
    with pytest.raises(RejectedUpload) as caught:
        inspect_upload(path, question_type)
    return str(caught.value)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Recordings by name, each encoded once per module on first use."""
    folder = tmp_path_factory.mktemp("media")
    made: dict[str, Path] = {}
    recipes: dict[str, Callable[[Path], Path]] = {
        "vp8+opus.webm": lambda p: record(p, video=encoder("libvpx"), audio=encoder("libopus")),
        "opus.webm": lambda p: record(p, video=None, audio=encoder("libopus"), format="webm"),
        "vp8.webm": lambda p: record(p, video=encoder("libvpx"), audio=None),
        # MediaRecorder streams: no Duration element, no cues (what FFmpeg's `live` mode writes too).
        "live.webm": lambda p: record(
            p, video=encoder("libvpx"), audio=encoder("libopus"), format="webm", options={"live": "1"}
        ),
        "h264+aac.mp4": lambda p: record(p, video=encoder("libx264", "h264", "mpeg4"), audio=encoder("aac")),
        "mpeg4+aac.mov": lambda p: record(p, video=encoder("mpeg4"), audio=encoder("aac"), format="mov"),
        "aac.m4a": lambda p: record(p, video=None, audio=encoder("aac"), format="ipod"),
        "opus.ogg": lambda p: record(p, video=None, audio=encoder("libopus"), format="ogg"),
        "tone.mp3": lambda p: record(p, video=None, audio=encoder("libmp3lame", "mp3")),
        "tone.wav": lambda p: record(p, video=None, audio=encoder("pcm_s16le")),
    }

    def get(name: str) -> Path:
        if name not in made:
            made[name] = recipes[name](folder / name)
        return made[name]

    return get


# ----------------------------------------------------------------------------------- recordings


def test_vp8_opus_webm_answers_a_video_question(media: Callable[[str], Path]) -> None:
    inspected = accepted(media("vp8+opus.webm"), "video")
    assert (inspected.content_type, inspected.extension) == ("video/webm", "webm")
    assert inspected.has_video
    assert inspected.has_audio
    assert inspected.duration_seconds == pytest.approx(SECONDS, abs=TOLERANCE)


def test_opus_only_webm_is_audio_webm_for_an_audio_question(media: Callable[[str], Path]) -> None:
    inspected = accepted(media("opus.webm"), "audio")
    assert (inspected.content_type, inspected.extension) == ("audio/webm", "webm")
    assert inspected.has_audio
    assert not inspected.has_video
    assert inspected.duration_seconds == pytest.approx(SECONDS, abs=TOLERANCE)


def test_a_video_with_sound_answers_an_audio_question_and_keeps_its_video_type(
    media: Callable[[str], Path],
) -> None:
    assert accepted(media("vp8+opus.webm"), "audio").content_type == "video/webm"
    assert accepted(media("h264+aac.mp4"), "audio").content_type == "video/mp4"


def test_mp4_answers_a_video_question(media: Callable[[str], Path]) -> None:
    inspected = accepted(media("h264+aac.mp4"), "video")
    assert (inspected.content_type, inspected.extension) == ("video/mp4", "mp4")
    assert inspected.has_video
    assert inspected.has_audio
    assert inspected.duration_seconds == pytest.approx(SECONDS, abs=TOLERANCE)


def test_quicktime_answers_a_video_question(media: Callable[[str], Path]) -> None:
    inspected = accepted(media("mpeg4+aac.mov"), "video")
    assert (inspected.content_type, inspected.extension) == ("video/quicktime", "mov")
    assert inspected.duration_seconds == pytest.approx(SECONDS, abs=TOLERANCE)


@pytest.mark.parametrize(
    ("name", "content_type", "extension"),
    [
        ("aac.m4a", "audio/mp4", "m4a"),
        ("opus.ogg", "audio/ogg", "ogg"),
        ("tone.mp3", "audio/mpeg", "mp3"),
        ("tone.wav", "audio/wav", "wav"),
    ],
)
def test_audio_formats_answer_an_audio_question(
    media: Callable[[str], Path], name: str, content_type: str, extension: str
) -> None:
    inspected = accepted(media(name), "audio")
    assert (inspected.content_type, inspected.extension) == (content_type, extension)
    assert inspected.has_audio
    assert not inspected.has_video
    assert inspected.duration_seconds == pytest.approx(SECONDS, abs=TOLERANCE)


def test_live_webm_without_a_header_duration_is_measured_from_its_packets(
    media: Callable[[str], Path],
) -> None:
    path = media("live.webm")
    with av.open(str(path)) as container:
        assert container.duration is None  # the premise: like Chrome's recordings, no duration to read
        assert _scan_duration(container) == pytest.approx(SECONDS, abs=TOLERANCE)
    inspected = accepted(path, "video")
    assert inspected.content_type == "video/webm"
    assert inspected.duration_seconds == pytest.approx(SECONDS, abs=TOLERANCE)


def test_packet_scan_agrees_with_the_header_where_there_is_one(media: Callable[[str], Path]) -> None:
    for name in ("vp8+opus.webm", "h264+aac.mp4", "opus.ogg"):
        with av.open(str(media(name))) as container:
            assert container.duration is not None
            assert _scan_duration(container) == pytest.approx(container.duration / av.time_base, abs=0.05)


def test_a_live_recording_cut_off_mid_upload_counts_only_what_arrived(
    media: Callable[[str], Path], tmp_path: Path
) -> None:
    whole = media("live.webm").read_bytes()
    cut = tmp_path / "cut.webm"
    cut.write_bytes(whole[: len(whole) // 2])
    duration = accepted(cut, "video").duration_seconds
    assert duration is not None
    assert 0 < duration < SECONDS - 0.3


# ----------------------------------------------------------------------------------- refusals


def test_text_named_webm_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "answer.webm"
    path.write_text("I could not get the camera to work, sorry.\n")
    assert "it looks like a plain-text file" in rejected(path, "video")


def test_pdf_for_a_video_question_says_what_it_found_and_what_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "answer.webm"
    path.write_bytes(PDF)
    message = rejected(path, "video")
    assert "not a video recording" in message
    assert "PDF document" in message
    assert "WebM" in message
    assert "MP4" in message


def test_ebml_header_followed_by_garbage_is_damaged(media: Callable[[str], Path], tmp_path: Path) -> None:
    whole = media("vp8+opus.webm").read_bytes()
    header = whole[: whole.index(b"\x18\x53\x80\x67")]  # the EBML header with DocType "webm"; Segment after
    path = tmp_path / "broken.webm"
    path.write_bytes(header + random.Random(7).randbytes(20_000))
    message = rejected(path, "video")
    assert "WebM" in message
    assert "damaged" in message
    path.write_bytes(b"\x1a\x45\xdf\xa3" + random.Random(8).randbytes(20_000))  # magic, then nothing valid
    assert "could not be recognised" in rejected(path, "video")


@pytest.mark.parametrize("question_type", sorted(ACCEPTED))
def test_empty_file_is_refused(tmp_path: Path, question_type: str) -> None:
    path = tmp_path / "empty.webm"
    path.touch()
    assert "empty" in rejected(path, question_type)


def test_audio_only_webm_is_not_a_video_answer(media: Callable[[str], Path]) -> None:
    assert "no picture" in rejected(media("opus.webm"), "video")


def test_silent_video_is_not_an_audio_answer(media: Callable[[str], Path]) -> None:
    assert "no sound" in rejected(media("vp8.webm"), "audio")
    assert accepted(media("vp8.webm"), "video").has_audio is False


def test_recordings_are_not_documents(media: Callable[[str], Path]) -> None:
    assert "WebM" in rejected(media("vp8+opus.webm"), "file")


def test_cut_or_corrupted_recordings_only_ever_raise_rejected_upload(
    media: Callable[[str], Path], tmp_path: Path
) -> None:
    noise = random.Random(3)
    outcomes: set[str] = set()
    for name in ("vp8+opus.webm", "live.webm", "h264+aac.mp4", "opus.ogg", "tone.mp3"):
        whole = media(name).read_bytes()
        for cut in (8, 64, 300, len(whole) // 3, len(whole) - 7):
            damaged = bytearray(whole[:cut])
            for _ in range(len(damaged) // 200):
                damaged[noise.randrange(len(damaged))] = noise.randrange(256)
            for variant in (whole[:cut], bytes(damaged)):
                path = tmp_path / name
                path.write_bytes(variant)
                for question_type in ACCEPTED:
                    try:
                        inspect_upload(path, question_type)
                        outcomes.add("accepted")
                    except RejectedUpload:  # anything else escaping fails the test
                        outcomes.add("rejected")
    assert outcomes == {"accepted", "rejected"}  # both paths were really exercised


# ----------------------------------------------------------------------------------- documents


def test_pdf_png_jpeg_and_text_are_accepted_as_files(tmp_path: Path) -> None:
    pdf = tmp_path / "cv.webm"  # the name is ignored: the bytes decide
    pdf.write_bytes(PDF)
    text = tmp_path / "notes"
    text.write_text("Réponse : j'ai choisi PostgreSQL — parce que…\n", encoding="utf-8")
    png = image(tmp_path / "diagram", encoder("png"), "rgb24")
    jpeg = image(tmp_path / "photo", encoder("mjpeg"), "yuvj420p")
    for path, content_type, extension in [
        (pdf, "application/pdf", "pdf"),
        (text, "text/plain", "txt"),
        (png, "image/png", "png"),
        (jpeg, "image/jpeg", "jpg"),
    ]:
        assert accepted(path, "file") == Inspected(content_type, extension, None, False, False)


def test_docx_and_odt_are_accepted_as_files(tmp_path: Path) -> None:
    docx = tmp_path / "letter.docx"
    with zipfile.ZipFile(docx, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr("word/document.xml", "<w:document/>")
    odt = tmp_path / "letter.odt"
    with zipfile.ZipFile(odt, "w") as archive:
        archive.writestr("mimetype", ODT)  # stored first and uncompressed, as the format requires
        archive.writestr("content.xml", "<office:document-content/>")
    assert accepted(docx, "file").content_type == DOCX
    assert accepted(odt, "file").content_type == ODT


def test_utf8_text_longer_than_the_sniffed_prefix_is_accepted_even_if_a_character_is_cut(
    tmp_path: Path,
) -> None:
    path = tmp_path / "essay.txt"
    path.write_bytes(b"a" * (64 * 1024 - 1) + "é and more".encode())  # é straddles the 64 KiB boundary
    assert accepted(path, "file").content_type == "text/plain"


def test_zip_that_is_not_a_document_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "portfolio.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes.txt", "hello " * 100)
    message = rejected(path, "file")
    assert "ZIP archive" in message
    assert "PDF" in message
    assert "plain-text" in message


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"\x7fELF\x02\x01\x01\x00" + bytes(120), "a program"),
        (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(120), "a Windows program"),
        (b"<!DOCTYPE html>\n<html><script>alert(1)</script></html>\n", "web page"),
        (b"\xef\xbb\xbf  <svg xmlns='http://www.w3.org/2000/svg'/>", "web page"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "a .gif file"),
        ("café au lait\n".encode("latin-1"), "could not be recognised"),
        (b"text with a\x00NUL byte\n", "could not be recognised"),
    ],
)
def test_other_files_are_refused_as_files(tmp_path: Path, content: bytes, found: str) -> None:
    path = tmp_path / "answer.txt"
    path.write_bytes(content)
    assert found in rejected(path, "file")


def test_unknown_question_type_is_a_programming_error(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("hi")
    with pytest.raises(ValueError, match="unknown question type"):
        inspect_upload(path, "essay")
