"""What an uploaded answer file really is, and how long a recording really lasts.

The type is decided from the bytes on disk, never from the filename or the Content-Type the browser
sent: both are chosen by the client, so trusting them would let a renamed PDF, a program or a web page
be stored as a "video" and later served to reviewers under that label. Magic numbers (``filetype``)
name the container; a recording must then actually open and demux with FFmpeg (PyAV), which also
proves it has the picture or sound the question asks for and gives its real duration.

Chrome's MediaRecorder streams WebM as it records and never goes back to write the duration into the
header, so for such files the duration is measured from the packet timestamps (demux only, no
decoding: about a second for a few hundred MB).
"""

from __future__ import annotations

import codecs
import pathlib
import re
from dataclasses import dataclass

import av
import av.error
import filetype
from av.container import InputContainer
from av.stream import Disposition

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
SNIFF_BYTES = 64 * 1024

# Question type -> content types an answer may end up with (also the page's accept= attribute).
ACCEPTED: dict[str, tuple[str, ...]] = {
    "video": ("video/webm", "video/mp4", "video/quicktime"),
    "audio": ("audio/webm", "audio/ogg", "audio/mpeg", "audio/mp4", "audio/wav", "video/webm", "video/mp4"),
    "file": ("application/pdf", "image/png", "image/jpeg", DOCX, ODT, "text/plain"),
}

# Sniffed container -> (the FFmpeg demuxer that must read it, question types it may answer). The demuxer is
# forced so that the file is judged as the very format it is labelled with. Streams decide the rest.
_CONTAINERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "video/webm": ("matroska", ("video", "audio")),
    "video/mp4": ("mov", ("video", "audio")),
    "video/quicktime": ("mov", ("video",)),
    "audio/mp4": ("mov", ("audio",)),
    "audio/ogg": ("ogg", ("audio",)),
    "audio/mpeg": ("mp3", ("audio",)),
    "audio/wav": ("wav", ("audio",)),
}

# Content type -> (extension, what the candidate would call it).
_KINDS: dict[str, tuple[str, str]] = {
    "video/webm": ("webm", "a WebM recording"),
    "audio/webm": ("webm", "a WebM audio recording"),
    "video/mp4": ("mp4", "an MP4 video"),
    "audio/mp4": ("m4a", "an M4A audio recording"),
    "video/quicktime": ("mov", "a QuickTime (MOV) video"),
    "audio/ogg": ("ogg", "an Ogg audio recording"),
    "audio/mpeg": ("mp3", "an MP3 audio file"),
    "audio/wav": ("wav", "a WAV audio file"),
    "application/pdf": ("pdf", "a PDF document"),
    "image/png": ("png", "a PNG image"),
    "image/jpeg": ("jpg", "a JPEG image"),
    DOCX: ("docx", "a Word (DOCX) document"),
    ODT: ("odt", "an OpenDocument text (ODT)"),
    "text/plain": ("txt", "a plain-text file"),
    "text/html": ("html", "a web page or other markup (HTML/XML)"),
    "application/zip": ("zip", "a ZIP archive"),
    "application/x-msdownload": ("exe", "a Windows program"),
    "application/x-executable": ("elf", "a program"),
    "video/x-matroska": ("mkv", "a Matroska (MKV) video"),
}
_ALIASES = {"audio/x-wav": "audio/wav", "video/x-m4v": "video/mp4"}

_NOT_A = {
    "video": "this file is not a video recording",
    "audio": "this file is not an audio recording",
    "file": "this type of file is not accepted",
}
_FIX = {
    "video": "record the answer again or upload a WebM, MP4 or MOV video",
    "audio": "record the answer again or upload a WebM, Ogg, MP3, M4A or WAV recording",
    "file": "upload a PDF, PNG, JPEG, Word (DOCX), OpenDocument (ODT) or plain-text file",
}

# What browsers sniff as HTML (WHATWG MIME sniffing), plus SVG and XML: refused even as "text".
_MARKUP = re.compile(
    rb"\s*(?:<!--|<(?:!doctype\s+html|html|head|body|script|iframe|style|title|h1|div|font|table|a|b|br|p"
    rb"|svg|\?xml)(?=[\s>/]|$))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Inspected:
    content_type: str
    extension: str
    duration_seconds: float | None
    has_video: bool
    has_audio: bool


class RejectedUpload(Exception):
    """The upload is not acceptable; the message is a sentence telling the candidate what to fix."""


def inspect_upload(path: pathlib.Path, question_type: str) -> Inspected:
    """Sniff the file at `path` and check it can answer a question of `question_type`.

    Raises RejectedUpload (and nothing else) for anything a candidate could have sent wrongly.
    """
    if question_type not in ACCEPTED:
        raise ValueError(f"unknown question type {question_type!r}")
    with path.open("rb") as file:
        head = file.read(SNIFF_BYTES + 1)
    if not head:
        raise RejectedUpload(f"this file is empty; {_FIX[question_type]}")
    content_type = _sniff(head[:SNIFF_BYTES], complete=len(head) <= SNIFF_BYTES)
    if question_type == "file":
        if content_type not in ACCEPTED["file"]:
            raise _wrong_type(content_type, question_type)
        return Inspected(content_type, _KINDS[content_type][0], None, has_video=False, has_audio=False)
    if content_type not in _CONTAINERS or question_type not in _CONTAINERS[content_type][1]:
        raise _wrong_type(content_type, question_type)
    return _inspect_media(path, content_type, question_type)


def _sniff(head: bytes, *, complete: bool) -> str | None:
    kind = filetype.guess(head)
    if kind is not None:
        return str(_ALIASES.get(kind.mime, kind.mime))
    if head[4:8] == b"ftyp":  # ISO BMFF brands filetype does not list (iso5, dash, ...)
        brand = head[8:12]
        return "video/quicktime" if brand == b"qt  " else "audio/mp4" if brand == b"M4A " else "video/mp4"
    if b"\0" in head:
        return None
    try:  # a cut at SNIFF_BYTES may split a character: only a complete file must end cleanly
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        return None
    return "text/html" if _MARKUP.match(head.removeprefix(codecs.BOM_UTF8)) else "text/plain"


def _inspect_media(path: pathlib.Path, content_type: str, question_type: str) -> Inspected:
    try:
        with av.open(str(path), format=_CONTAINERS[content_type][0], metadata_errors="replace") as container:
            # Cover art in an audio file is a still picture, not a recording.
            pictures = [s for s in container.streams.video if not s.disposition & Disposition.attached_pic]
            has_video, has_audio = bool(pictures), bool(container.streams.audio)
            # The packets are always measured: a header's duration is written by the sender and can
            # understate a recording, so the longer of the two counts.
            scanned = _scan_duration(container)
            durations = [d for d in (_header_duration(container), scanned) if d is not None]
            duration = max(durations) if durations else None
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise RejectedUpload(
            f"this file looks like {_KINDS[content_type][1]} but it is damaged or incomplete and cannot "
            f"be played; {_FIX[question_type]}"
        ) from error
    if question_type == "video" and not has_video:
        raise RejectedUpload(
            "this recording has no picture"
            + (" (it contains only sound)" if has_audio else "")
            + "; check that the camera is allowed and "
            + _FIX[question_type]
        )
    if question_type == "audio" and not has_audio:
        raise RejectedUpload(
            f"this recording has no sound; check that the microphone is allowed and {_FIX[question_type]}"
        )
    if duration is None or duration <= 0:
        raise RejectedUpload(f"this recording is empty (it lasts no time at all); {_FIX[question_type]}")
    if not has_video:
        content_type = {"video/webm": "audio/webm", "video/mp4": "audio/mp4"}.get(content_type, content_type)
    return Inspected(content_type, _KINDS[content_type][0], duration, has_video, has_audio)


def _header_duration(container: InputContainer) -> float | None:
    """The duration FFmpeg read from the header (or the streams), if it has a positive one."""
    if container.duration is None or container.duration <= 0:
        return None
    return container.duration / av.time_base


def _scan_duration(container: InputContainer) -> float | None:
    """Duration measured from packet timestamps: last end minus first start, over audio and video.

    Demux only (no decoding), keeping integer bounds per stream, so a long recording stays fast. The
    last packet's own duration is counted when the container records it (WebM video blocks often do
    not, which costs at most one frame).
    """
    streams = [*container.streams.video, *container.streams.audio]
    if not streams:
        return None
    bounds: dict[int, tuple[int, int]] = {}
    for packet in container.demux(*streams):
        pts = packet.pts
        if pts is None:  # the empty flush packet at the end of each stream
            continue
        end = pts + (packet.duration or 0)
        first, last = bounds.get(packet.stream_index, (pts, end))
        bounds[packet.stream_index] = (min(first, pts), max(last, end))
    time_bases = {stream.index: stream.time_base for stream in streams}
    spans = [
        (first * base, last * base) for index, (first, last) in bounds.items() if (base := time_bases[index])
    ]
    if not spans:
        return None
    return float(max(stop for _, stop in spans) - min(start for start, _ in spans))


def _wrong_type(content_type: str | None, question_type: str) -> RejectedUpload:
    if content_type is None:
        found = "its type could not be recognised"
    else:
        kind = filetype.get_type(mime=content_type)
        other = f"a .{kind.extension} file" if kind else f"a file of type {content_type}"
        found = "it looks like " + _KINDS.get(content_type, ("", other))[1]
    return RejectedUpload(f"{_NOT_A[question_type]} ({found}); {_FIX[question_type]}")
