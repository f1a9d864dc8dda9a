"""The errors a user sees as a single line, never as a traceback."""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)


class SweepError(Exception):
    """Bad input or a broken environment, found before anything starts: the message names the key, path or
    URI and what is allowed or how to fix it (exit code 2)."""


class StudyStopped(Exception):
    """A run stopped cleanly on a fault of its environment found mid-way (its tracking server away too long,
    trials that no node can place): the message says why and how to resume (exit code 3)."""


def chain(error: BaseException) -> list[BaseException]:
    """`error` and the errors it was raised from or while handling, outermost first."""
    links: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in links):
        links.append(current)
        current = current.__cause__ or current.__context__
    return links


def found_in(error: BaseException, kind: type[E]) -> E | None:
    """The first error of `kind` in `error`'s chain (a library may wrap ours: Tune wraps what a callback raises)."""
    return next((link for link in chain(error) if isinstance(link, kind)), None)
