"""Durations in words (offhours/durations.py), said one way by the portal, the emails and the
workflow."""

import pytest

from offhours.durations import in_words


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (3 * 86400, "3 days"),
        (86400, "1 day"),
        (86399, "23 hours"),
        (3600, "1 hour"),
        (120, "2 minutes"),
        (2, "2 seconds"),
    ],
)
def test_reminders_say_how_long_is_left_in_words(seconds: int, text: str) -> None:
    assert in_words(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (36 * 3600, "36 hours"),  # once "1 day" in a reminder and "36 hours" on the portal
        (90 * 60, "90 minutes"),
        (30 * 60, "30 minutes"),
        (5 * 86400, "5 days"),
        (1, "1 second"),
        (0, "0 seconds"),
        (-5, "0 seconds"),
    ],
)
def test_a_duration_is_said_exactly_when_a_unit_says_it(seconds: int, text: str) -> None:
    assert in_words(seconds) == text
