"""Real media for tests, encoded here with PyAV's bundled FFmpeg: recordings that play, with a known
duration, rather than bytes that merely start like a WebM."""

from __future__ import annotations

import array
import functools
import math
import tempfile
from pathlib import Path

import av
import httpx
import pytest

SECONDS = 2.0
PDF = (
    b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
    b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
)


def encoder(*names: str) -> str:
    """The first of `names` the bundled FFmpeg can encode with, or skip the test saying what is missing."""
    for name in names:
        if name in av.codecs_available:
            try:
                return av.Codec(name, "w").name
            except ValueError:  # a decoder only (UnknownCodecError)
                continue
    pytest.skip(f"the FFmpeg bundled with PyAV has no encoder among {names}")


def record(
    path: Path,
    *,
    video: str | None,
    audio: str | None,
    seconds: float = SECONDS,
    format: str | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode `seconds` of a changing 64x48 picture at 25 fps and/or a 440 Hz tone at 48 kHz."""
    with av.open(str(path), "w", format=format, options=options or {}) as out:
        # Every stream is set up before the first packet is muxed (that writes the header).
        video_stream = (
            out.add_stream(video, rate=25, width=64, height=48, pix_fmt="yuv420p") if video else None
        )
        audio_stream = out.add_stream(audio, rate=48000, layout="mono") if audio else None
        if isinstance(video_stream, av.VideoStream):
            for index in range(round(seconds * 25)):
                picture = av.VideoFrame(64, 48, "yuv420p")
                for plane in picture.planes:
                    plane.update(bytes([index * 5 % 256]) * plane.buffer_size)
                picture.pts = index
                out.mux(video_stream.encode(picture))
            out.mux(video_stream.encode(None))
        if isinstance(audio_stream, av.AudioStream):
            block = 960
            for start in range(0, round(seconds * 48000), block):
                samples = array.array(
                    "h",
                    (round(6000 * math.sin(2 * math.pi * 440 * (start + i) / 48000)) for i in range(block)),
                )
                sound = av.AudioFrame(format="s16", layout="mono", samples=block)
                sound.planes[0].update(samples.tobytes())
                sound.sample_rate, sound.pts = 48000, start
                out.mux(audio_stream.encode(sound))
            out.mux(audio_stream.encode(None))
        assert video_stream or audio_stream
    return path


@functools.cache
def webm(seconds: float = SECONDS, video: bool = True) -> bytes:
    """A VP8+Opus (or Opus-only) WebM of `seconds`, as bytes; made once per process."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sample.webm"
        record(
            path,
            video=encoder("libvpx", "vp8") if video else None,
            audio=encoder("libopus", "opus"),
            seconds=seconds,
        )
        return path.read_bytes()


async def consent(http: httpx.AsyncClient, token: str) -> None:
    """The candidate agrees to recording (the view tells which wording); repeating it is harmless."""
    version = (await http.get(f"/api/v1/candidate/{token}")).json()["consent_version"]
    response = await http.post(f"/api/v1/candidate/{token}/consent", json={"version": version})
    assert response.status_code == 200, response.text


async def upload_recording(
    http: httpx.AsyncClient, token: str, question_id: str, content: bytes, content_type: str = "video/webm"
) -> httpx.Response:
    """What the portal's recorder does: consent, open the question (a timed or recorded question's take
    starts there), upload the recording."""
    await consent(http, token)
    await http.post(f"/api/v1/candidate/{token}/questions/{question_id}/open")
    return await http.post(
        f"/api/v1/candidate/{token}/answers",
        data={"question_id": question_id},
        files={"file": (f"{question_id}.webm", content, content_type)},
    )
