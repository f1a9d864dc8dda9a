"""Rendering a document (a list of blocks) as Markdown or as one HTML page that opens from disk."""

from __future__ import annotations

import html
from collections.abc import Sequence

from sweeps.report.document import Block, Heading, Notice, Paragraph, Table

# Inline so index.html needs nothing but the figures beside it.
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
figure { display: inline-block; vertical-align: top; margin: 0.5rem 1.5rem 1.5rem 0; max-width: 100%; }  /* side by side when they fit */
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
nav li { margin: 0.1rem 0; }
.notice { background: #fff4d6; border-left: 0.35rem solid #e0a100; padding: 0.6rem 0.9rem; }
"""


def to_markdown(blocks: Sequence[Block]) -> str:
    return "\n\n".join(_markdown(block) for block in blocks) + "\n"


def _markdown(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Notice):
        return f"> **{block.title}** {block.text}"
    if isinstance(block, Table):
        lines = [_markdown_row(block.header), _markdown_row(["---"] * len(block.header))]
        return "\n".join(lines + [_markdown_row(row) for row in block.rows])
    return f"![{block.caption}]({block.path})\n\n*{block.caption}*"  # an Image


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def to_html(blocks: Sequence[Block], title: str) -> str:
    """One page: the first block (the title), a table of contents of the level-2 headings, the other blocks."""
    contents = "".join(
        f'<li><a href="#{html.escape(block.anchor)}">{html.escape(block.text)}</a></li>'
        for block in blocks
        if isinstance(block, Heading) and block.level == 2 and block.anchor
    )
    first, *rest = (_html(block) for block in blocks)
    body = "\n".join([first, f"<nav><ul>{contents}</ul></nav>", *rest])
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _html(block: Block) -> str:
    if isinstance(block, Heading):
        anchor = f' id="{html.escape(block.anchor)}"' if block.anchor else ""
        return f"<h{block.level}{anchor}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Notice):
        return f'<p class="notice"><strong>{html.escape(block.title)}</strong> {html.escape(block.text)}</p>'
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in block.header)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    path, caption = html.escape(block.path), html.escape(block.caption)  # an Image
    return f'<figure><img src="{path}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'
