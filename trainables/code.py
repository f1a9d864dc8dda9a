"""The hash of the code that trains a kind of trainable, so a result knows which code produced it.

A kind's code is every Python file of its own package (the package of the module `KINDS` names:
`trainables/image/` for images, `trainables/text/` for text) plus the modules directly in `trainables/`
that every kind shares (this one excepted): the callback, checkpoint state, the epoch scaffold, schemas,
the optimizer registry, the machine record. Nothing in `sweeps/` counts: the service schedules and
records trials, it does not compute them.

The hash is of each file's *tokens*: comments, blank lines, line breaks inside brackets and bare
string statements (docstrings) are left out, so editing a comment or a docstring keeps it, and
editing code — the training loop, a layer, the optimizer — changes it.

A trial's code (`trial_code_hash`) is its kind's code and, for a model from code, the module that
`model._target_` names: every Python file of its top-level package (or the one file of a top-level
module), found on the path without importing it, so editing the user's model marks their trials stale.
A package installed into site-packages (torchvision, torch) counts by its distribution's version: its
files change only when it is upgraded, and the installed version names them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import tokenize
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainables.function.resolve import module_file, trainable_kind
from trainables.kinds import KINDS

ROOT = Path(__file__).resolve().parent  # trainables/
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, None}
_LAYOUT = {tokenize.NEWLINE: "\n", tokenize.INDENT: "\t"}  # a block's depth counts, not its spaces
_NOT_TRAINING = {"code.py"}  # this module: it hashes the code, it trains nothing


def code_files(kind: str, root: Path = ROOT) -> list[Path]:
    """The files that make up `kind`'s code, sorted: its package's, then the shared top-level modules.

    `root` is the `trainables/` folder to read (another checkout's, in tests).
    """
    if kind not in KINDS:
        raise ValueError(f"trainable: unknown trainable {kind!r}; allowed: {', '.join(KINDS)}")
    parts = KINDS[kind].split(".")[1:]  # "trainables.image.kind" → image/kind.py, in package image/
    module = root.joinpath(*parts)
    package = module if (module / "__init__.py").exists() else module.parent
    files = {path for path in root.glob("*.py") if path.name not in _NOT_TRAINING}
    if package != root:
        files |= set(package.rglob("*.py"))
    return sorted(files)


@functools.cache
def code_hash(kind: str, root: Path = ROOT) -> str:
    """12 hex digits: the SHA-256 of `kind`'s code files, each as its path under `root` and its tokens."""
    digest = hashlib.sha256()
    for path in code_files(kind, root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(source_tokens(path.read_text(encoding="utf-8")).encode() + b"\0")
    return digest.hexdigest()[:12]


def trainable_code_hash(name: str) -> str:
    """12 hex digits: the hash of the code that trains trials of trainable `name`: a built-in kind's
    `code_hash`; for a training function (or a registered kind), the tokens of the module file that holds
    it: editing that file makes its recorded runs stale (the modules it imports are not covered)."""
    if name in KINDS:
        return code_hash(name)
    digest = hashlib.sha256(b"module\0" + _file_tokens(module_file(trainable_kind(name))).encode())
    return digest.hexdigest()[:12]


def trial_code_hash(config: Mapping[str, Any]) -> str:
    """12 hex digits: the code of a trial's kind and of the modules its config names by `_target_`
    (the kind's code_hash alone where it names none). `config` is a trial config, nested or flattened
    into params (`model._target_`)."""
    kind_hash = trainable_code_hash(str(config.get("trainable", "image")))
    modules = sorted({target.split(".")[0] for target in targets(config)})
    if not modules:
        return kind_hash
    digest = hashlib.sha256(kind_hash.encode() + b"\0")
    for module in modules:
        digest.update(module.encode() + b"\0" + module_code(module).encode() + b"\0")
    return digest.hexdigest()[:12]


def targets(config: Mapping[str, Any]) -> list[str]:
    """Every `_target_` value in `config`, at any depth, or under a flattened key ending in `._target_`."""
    found = []
    for key, value in config.items():
        if isinstance(value, Mapping):
            found += targets(value)
        elif isinstance(value, str) and (key == "_target_" or str(key).endswith("._target_")):
            found.append(value)
    return found


def module_code(name: str) -> str:
    """What stands for a top-level module's code: `dist==version` for an installed distribution, else a hash
    of its files' tokens (`missing` when it cannot be found)."""
    try:
        spec = importlib.util.find_spec(name)  # a top-level name: found on sys.path, nothing imported
    except ValueError:  # in sys.modules without a spec
        spec = None
    if spec is None or not (spec.submodule_search_locations or spec.has_location):
        return "missing" if spec is None else "built-in"
    folders = [Path(folder) for folder in spec.submodule_search_locations or []]
    location = folders[0] if folders else Path(str(spec.origin))
    if {"site-packages", "dist-packages"} & set(location.parts):
        distributions = _distributions().get(name, [])
        return ",".join(f"{dist}=={importlib.metadata.version(dist)}" for dist in sorted(distributions)) or "installed"
    files = sorted({path for folder in folders for path in folder.rglob("*.py")}) if folders else [location]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(location.parent).as_posix().encode() + b"\0" + _file_tokens(path).encode() + b"\0")
    return digest.hexdigest()[:12]


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    """Top-level module → the installed distributions providing it: a scan of every installed package's
    metadata, made once a process (a plan or a report asks it for each trial)."""
    return importlib.metadata.packages_distributions()


def _file_tokens(path: Path) -> str:
    """A user's file as its tokens, read once per version of the file (its modification time and size):
    a plan or a report hashes each trial's code, thousands of times for one unchanged file."""
    stat = path.stat()
    return _tokens_of(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1024)
def _tokens_of(path: Path, mtime_ns: int, size: int) -> str:
    """`path`'s tokens; as written where it does not tokenize (the import will say why), and a compiled
    extension as its bytes' hash. `mtime_ns` and `size` only key the cache: an edited file is read again."""
    if path.suffix != ".py":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    source = path.read_text(encoding="utf-8", errors="replace")
    try:
        return source_tokens(source)
    except (tokenize.TokenError, SyntaxError):
        return source


def source_tokens(source: str) -> str:
    """`source` as its significant tokens: what the code does, not how it is laid out or commented."""
    tokens = [token for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type not in _SKIPPED]
    lines = source.splitlines(keepends=True)
    kept: list[str] = []
    previous: int | None = None
    index = 0
    while index < len(tokens):
        pieces, after = _literal(tokens, index, lines)
        if pieces:  # a string literal: its pieces (implicitly joined) as written
            following = tokens[after].type if after < len(tokens) else None
            if previous in _STATEMENT_START and following in (tokenize.NEWLINE, None):
                index = after + 1  # a docstring or another bare string statement: it does nothing
                continue
            kept += pieces
            previous, index = tokenize.STRING, after
            continue
        token = tokens[index]
        kept.append(_LAYOUT.get(token.type, token.string))
        previous = token.type
        index += 1
    return "\x1f".join(kept)


def _literal(tokens: list[tokenize.TokenInfo], index: int, lines: list[str]) -> tuple[list[str], int]:
    """The pieces of a string literal starting at `index` (none if there is none) and the index after it.

    Python 3.12 splits an f-string into several tokens; each piece is taken as written in the source,
    so the result is the same on every Python.
    """
    fstring_start = getattr(tokenize, "FSTRING_START", None)
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    pieces = []
    position = index
    while position < len(tokens):
        first = tokens[position]
        if first.type == tokenize.STRING:
            pieces.append(first.string)
            position += 1
        elif fstring_start is not None and first.type == fstring_start:
            depth = 0
            while True:
                depth += {fstring_start: 1, fstring_end: -1}.get(tokens[position].type, 0)
                position += 1
                if depth == 0:
                    break
            pieces.append(_text(lines, first.start, tokens[position - 1].end))
        else:
            break
    return pieces, position


def _text(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    """The source between two (row, column) positions, as written (an f-string whole on every Python)."""
    (first_row, first_col), (last_row, last_col) = start, end
    if first_row == last_row:
        return lines[first_row - 1][first_col:last_col]
    middle = lines[first_row : last_row - 1]
    return lines[first_row - 1][first_col:] + "".join(middle) + lines[last_row - 1][:last_col]
