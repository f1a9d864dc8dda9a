"""The code hash: what a kind's code is, and which edits change its hash (code) and which do not (comments)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trainables.code import ROOT, code_files, code_hash, source_tokens

REPO = ROOT.parent


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of trainables/ and sweeps/report/ to edit."""
    shutil.copytree(REPO / "trainables", tmp_path / "trainables", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "sweeps" / "report", tmp_path / "sweeps" / "report", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _hash(checkout: Path, kind: str = "image") -> str:
    code_hash.cache_clear()
    return code_hash(kind, checkout / "trainables")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _loop(checkout: Path) -> Path:
    """The image classifier's training loop (trainables/image/loop.py, trainables/loop.py before the move)."""
    return next(p for p in (checkout / "trainables/image/loop.py", checkout / "trainables/loop.py") if p.exists())


def test_a_kinds_code_is_its_package_and_the_shared_modules() -> None:
    image = {path.relative_to(ROOT).as_posix() for path in code_files("image")}
    text = {path.relative_to(ROOT).as_posix() for path in code_files("text")}
    shared = {path.name for path in ROOT.glob("*.py")} - {"code.py"}
    assert shared <= image and shared <= text  # callback, state, schema, optim (the optimizer registry), …
    assert {"optim.py", "kinds.py", "state.py"} <= shared
    loop = _loop(REPO).relative_to(ROOT).as_posix()
    assert loop in image and loop not in text  # the image loop is not the text classifier's code
    assert "text/loop.py" in text and "text/loop.py" not in image
    assert any(name.endswith("model.py") for name in image)  # the layer registry
    assert not any(path.startswith("sweeps") for path in image | text)


def test_the_same_code_has_the_same_hash_wherever_it_is(checkout: Path) -> None:
    assert _hash(checkout) == code_hash("image", ROOT)  # a copy of the code: the same hash


def test_a_comment_in_the_report_or_in_the_loop_keeps_the_hash(checkout: Path) -> None:
    before = _hash(checkout)
    report = checkout / "sweeps/report/stats.py"
    report.write_text("# a comment about the report\n" + report.read_text())
    assert _hash(checkout) == before
    loop = _loop(checkout)
    loop.write_text(loop.read_text().replace("\n\ndef ", "\n\n# a new comment\ndef ", 1) + "\n# the end\n")
    assert _hash(checkout) == before
    _edit(loop, '"""', '"""Docstrings say what code does; they do not change what it does. ', )
    assert _hash(checkout) == before


def test_editing_the_training_loop_changes_the_image_hash_only(checkout: Path) -> None:
    image, text = _hash(checkout, "image"), _hash(checkout, "text")
    _edit(_loop(checkout), "model.eval()", "model.train(False)")  # the same thing, written another way: code
    assert _hash(checkout, "image") != image
    assert _hash(checkout, "text") == text


def test_editing_a_shared_module_changes_every_kinds_hash(checkout: Path) -> None:
    image, text = _hash(checkout, "image"), _hash(checkout, "text")
    optim = checkout / "trainables/optim.py"
    optim.write_text(optim.read_text() + "\nEXTRA = 1\n")
    assert _hash(checkout, "image") != image and _hash(checkout, "text") != text


def test_tokens_leave_out_comments_blank_lines_and_docstrings_but_keep_strings_that_do_something() -> None:
    plain = "def f(x):\n    return x + 1\n"
    commented = 'def f(x):\n    """Add one."""\n    # the answer\n\n    return x + 1  # one\n'
    assert source_tokens(commented) == source_tokens(plain)
    assert source_tokens("def f(x):\n    return x + 2\n") != source_tokens(plain)
    assert source_tokens('x = "a"\n') != source_tokens('x = "b"\n')
    assert source_tokens('print(f"{x} items")\n') != source_tokens('print(f"{x} things")\n')
    assert source_tokens("if x:\n  y = 1\n") == source_tokens("if x:\n        y = 1\n")  # indent width is layout
