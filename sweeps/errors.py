"""The one error type a user sees as a single line (exit code 2), never as a traceback."""

from __future__ import annotations


class SweepError(Exception):
    """Bad input: the message names the key and what is allowed."""
