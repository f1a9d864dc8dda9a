"""Errors every kind of trainable raises alike, so the service can stop a run on them by class."""

from __future__ import annotations


class DataUnavailableError(FileNotFoundError):
    """A trial's data files are not on disk (or not usable) and could not be fetched; one-line message."""
