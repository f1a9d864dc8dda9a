"""Small wording helpers shared by the plan, the console and the reports: counts with their noun, durations."""

from __future__ import annotations


def clock(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` from an hour on."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


def plural(count: int, noun: str) -> str:
    """`1 trial`, `2 trials`, `0 trials`, `1 question-variant`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
