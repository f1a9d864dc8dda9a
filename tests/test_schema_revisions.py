"""The store's schema check reads this MLflow's migration revisions from its files' text: the same head and
revisions as alembic's own reading, and alembic's reading wherever a file is not in the plain form."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeps.run import preflight


@pytest.fixture(autouse=True)
def uncached() -> None:
    preflight._schema_revisions.cache_clear()


def test_the_files_give_alembics_head_and_revisions() -> None:
    head, known = preflight._schema_revisions()
    assert (head, known) == preflight._alembic_revisions()
    assert len(known) > 50  # MLflow 3 has passed through dozens of migrations


def _migration(folder: Path, name: str, revision: str, down: str) -> None:
    (folder / f"{name}.py").write_text(f'"""{name}"""\nfrom alembic import op\n\nrevision = "{revision}"\ndown_revision = {down}\n')


@pytest.mark.parametrize(
    "files, expected",
    [
        ([("first", "aa01", "None"), ("second", "bb02", '"aa01"'), ("third", "cc03", '"bb02"')], ("cc03", {"aa01", "bb02", "cc03"})),
        ([("second", "bb02", '"aa01"'), ("first", "aa01", "None")], ("bb02", {"aa01", "bb02"})),  # any file order
    ],
)
def test_a_chain_of_files_ends_at_the_revision_none_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: list[tuple[str, str, str]], expected: tuple[str, set[str]]
) -> None:
    for name, revision, down in files:
        _migration(tmp_path, name, revision, down)
    (tmp_path / "__init__.py").write_text("")
    monkeypatch.setattr(preflight, "_migrations", lambda: tmp_path)
    monkeypatch.setattr(preflight, "_alembic_revisions", lambda: pytest.fail("alembic read a plain chain"))
    assert preflight._schema_revisions() == (expected[0], frozenset(expected[1]))


@pytest.mark.parametrize(
    "files",
    [
        [("first", "aa01", "None"), ("a", "bb02", '"aa01"'), ("b", "cc03", '"aa01"')],  # two heads: a branch
        [("first", "aa01", "None"), ("merge", "bb02", '("aa01", "zz99")')],  # a merge names two
        [("first", "aa01", "None"), ("second", "bb02", '"zz99"')],  # follows a revision no file has
    ],
)
def test_anything_else_is_left_to_alembic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: list[tuple[str, str, str]]) -> None:
    for name, revision, down in files:
        _migration(tmp_path, name, revision, down)
    monkeypatch.setattr(preflight, "_migrations", lambda: tmp_path)
    monkeypatch.setattr(preflight, "_alembic_revisions", lambda: ("alembic's", frozenset()))
    assert preflight._schema_revisions() == ("alembic's", frozenset())
