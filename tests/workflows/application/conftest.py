"""Fixtures of the application workflow's stage tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pipelines.registry import PIPELINES, validate
from tests.support.quiet import wait_until_quiet
from tests.support.stack import Stack
from tests.workflows.application.candidate import EXTENSIONS, TAKES, assessment_pipeline


@pytest.fixture
async def skipping_stack(skipping_stack: Stack) -> AsyncIterator[Stack]:
    """The time-skipping stack, left quiet before its teardown terminates the workflows: terminating
    one while an activity runs leaves the shared time-skipping server locked, and every later
    `env.sleep` in the session then hangs until its RPC times out."""
    yield skipping_stack
    await wait_until_quiet(skipping_stack)


@pytest.fixture
def ts(skipping_stack: Stack) -> Stack:
    """The time-skipping stack (left quiet at the end of the test, before its workflows are ended)."""
    return skipping_stack


@pytest.fixture
def pipelines(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Registers the candidate-side test pipelines; returns their names by role."""
    names: dict[str, str] = {}
    for role, pipeline in (
        ("extensions", EXTENSIONS),
        ("reject", assessment_pipeline("reject")),
        ("inform", assessment_pipeline("inform")),
        ("takes", TAKES),
    ):
        monkeypatch.setitem(PIPELINES, pipeline.name, validate(pipeline))
        names[role] = pipeline.name
    return names
