"""Fixtures of the portal rule tests."""

from __future__ import annotations

import pytest

from pipelines.registry import PIPELINES, validate
from tests.api.portal.rules import RULES


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the test pipeline for this test; returns its name."""
    monkeypatch.setitem(PIPELINES, RULES.name, validate(RULES))
    return RULES.name
