"""The errors a user sees as a single line, never as a traceback."""

from __future__ import annotations


class SweepError(Exception):
    """Bad input or a broken environment, found before anything starts: the message names the key, path or
    URI and what is allowed or how to fix it (exit code 2)."""


class StudyStopped(Exception):
    """A run stopped cleanly on a fault of its environment found mid-way (its tracking server away too long,
    trials that no node can place): the message says why and how to resume (exit code 3)."""
