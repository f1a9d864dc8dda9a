"""A report as a list of blocks, so report.md and index.html are two renderings of one document."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    level: int  # 1 = the document's title
    text: str
    anchor: str | None = None  # id to link to (a question's id)


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Notice:
    """What a reader must know before reading on (an offline report's stand-in data): set apart from the text."""

    title: str
    text: str


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Image:
    path: str  # relative to the report folder, e.g. figures/q03_curves.png
    caption: str


Block = Heading | Paragraph | Notice | Table | Image
