"""The interview stage on the time-skipping server: the take limits of recorded answers."""

from __future__ import annotations

import hashlib

from tests.support.samples import webm
from tests.support.stack import Stack
from tests.workflows.application.candidate import candidate_post, detail_of, invite, upload

# ================================================================================ recorded takes


async def test_recorded_answers_allow_only_their_takes(ts: Stack, pipelines: dict[str, str]) -> None:
    stack = ts
    invited = await invite(stack, pipelines["takes"], "Recorded agent")

    # Think time set: one take only.
    pitch = [webm(1.0), webm(1.2)]
    voice = [webm(1.0 + take / 10, video=False) for take in range(4)]
    first = await upload(stack, invited, "pitch", pitch[0], "video")
    assert first.status_code == 200, first.text
    second = await upload(stack, invited, "pitch", pitch[1], "video")
    assert second.status_code == 409, second.text
    assert "allows 1 take(s); none left" in detail_of(second)

    # retakes=2: three takes.
    for take in (0, 1, 2):
        response = await upload(stack, invited, "voice", voice[take], "audio")
        assert response.status_code == 200, (take, response.text)
    fourth = await upload(stack, invited, "voice", voice[3], "audio")
    assert fourth.status_code == 409, fourth.text
    assert "allows 3 take(s); none left" in detail_of(fourth)

    answers = {a["question_id"]: a for a in (await stack.application(invited.application_id))["answers"]}
    assert answers["pitch"]["file_sha256"] == hashlib.sha256(pitch[0]).hexdigest()
    assert answers["voice"]["file_sha256"] == hashlib.sha256(voice[2]).hexdigest()
    assert (await candidate_post(stack, invited, "submit")).status_code == 200
