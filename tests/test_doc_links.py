"""Every relative link in the README and the pages of docs/ points to a file that exists, so the landing
page's links into docs/ (which mkdocs does not build) cannot rot. Links inside code are not links. The
code cites docs the same way (`sweep plan --help` names docs/contracts.md): each cited page exists, and
none lies outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)  # fenced code blocks
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)  # inline code, one or more backticks
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # [text](target "title")
CITED = re.compile(r"(?<![\w./-])docs/[\w-]+\.md")  # a page named in source from the repository root: docs/x.md
OUTSIDE = re.compile(r"\.\./[\w./-]+\.md")  # a Markdown file above the repository root, e.g. ../shared/x.md
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, …


def relative_links(markdown: str) -> list[str]:
    """The targets of the Markdown links in `markdown` that name a file of this repository (anchors dropped)."""
    prose = CODE_SPAN.sub("", FENCE.sub("", markdown))
    targets = (match[1].split("#", 1)[0] for match in LINK.finditer(prose))
    return [target for target in targets if target and not EXTERNAL.match(target)]


def test_links_are_found_outside_code_only() -> None:
    markdown = (
        "See [a](docs/a.md), [b](b.md#part \"title\") and [site](https://example.org/x.md).\n"
        "`[not](code.md)` and [anchor](#here)\n```\n[fenced](fenced.md)\n```\n"
    )
    assert relative_links(markdown) == ["docs/a.md", "b.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file(page: Path) -> None:
    missing = [target for target in relative_links(page.read_text()) if not (page.parent / target).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to files that do not exist: {missing}"


def test_the_readme_links_into_docs() -> None:
    assert any(target.startswith("docs/") for target in relative_links((ROOT / "README.md").read_text()))


def test_docs_cited_in_code_exist_in_the_repository() -> None:
    sources = [path for package in ("sweeps", "trainables", "benchmarks", "tests") for path in sorted((ROOT / package).rglob("*.py"))]
    wrong = {
        str(source.relative_to(ROOT)): cited
        for source in sources
        if source != Path(__file__)
        for text in [source.read_text()]
        if (cited := OUTSIDE.findall(text) + [page for page in CITED.findall(text) if not (ROOT / page).is_file()])
    }
    assert not wrong, f"cited pages outside docs/ or missing (name a page under docs/): {wrong}"
