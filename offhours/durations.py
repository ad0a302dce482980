"""How long something is, in words, said one way everywhere: the portal ("30 minutes once
started"), emails ("3 days left") and the workflow's refusals. A pure function, so that workflow
code may use it (the same words on every replay)."""

from __future__ import annotations

UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))


def in_words(seconds: int) -> str:
    """In the largest unit that says it exactly ('36 hours', '90 minutes', '3 days'); otherwise in
    the largest unit it reaches, rounded down ('23 hours' for 23 h 59 min 59 s: a reminder never
    promises more time than is left)."""
    seconds = max(int(seconds), 0)
    for unit, size in UNITS:
        if seconds >= size and seconds % size == 0:
            return _count(seconds // size, unit)
    for unit, size in UNITS:
        if seconds >= size:
            return _count(seconds // size, unit)
    return _count(seconds, "second")


def _count(count: int, unit: str) -> str:
    return f"{count} {unit}{'s' if count != 1 else ''}"
