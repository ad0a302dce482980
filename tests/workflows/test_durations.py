import pytest

from workflows.application import describe_duration


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
    assert describe_duration(seconds) == text
