"""The package's shape, read from the source with `ast` (nothing is imported): no import cycle anywhere
(module level or inside functions); each stage of `sweeps/` imports only the stages below it; every
`sweeps.*` tag name lives in `sweeps/record/tags.py`; `trainables/` free of Ray, MLflow and the service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sweeps", "trainables")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}


def _imported(path: Path, module: str, known: set[str]) -> set[str]:
    """Every module of this project that `path` imports, anywhere in the file (functions included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in known:  # `from a.b import c`: c may be a function, not a module
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {module: _imported(path, module, known) for module, path in modules.items()}
    # A module imports its parent packages too (their __init__ runs first); that is not a cycle.
    return {module: {dep for dep in deps if not module.startswith(f"{dep}.")} for module, deps in graph.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


# The stages of `sweeps/`, bottom first (docs/architecture.md): a module imports only from its own stage
# or one below it. A stage is a package (`sweeps.plan`) or a top-level module (`sweeps.errors`).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("sweeps.errors", "sweeps.process", "sweeps.words", "sweeps.machine"),
    ("sweeps.config",),
    ("sweeps.trials",),
    ("sweeps.record",),
    ("sweeps.plan",),
    ("sweeps.run",),
    ("sweeps.report",),
    ("sweeps.serve",),
    ("sweeps.cli", "sweeps.api", "sweeps.__main__", "sweeps"),
)


def _layer(module: str) -> int:
    """The index in LAYERS of the stage `module` belongs to (its longest matching stage name)."""
    matches = [
        (len(name), index) for index, names in enumerate(LAYERS) for name in names if module == name or module.startswith(f"{name}.")
    ]
    assert matches, f"{module} belongs to no stage of LAYERS: add it to one"
    return max(matches)[1]


def test_each_stage_imports_only_stages_below_it() -> None:
    upward = [
        f"{module} ({LAYERS[_layer(module)][0]}) imports {dep} ({LAYERS[_layer(dep)][0]})"
        for module, deps in _graph().items()
        if module.startswith("sweeps")
        for dep in deps
        if dep.startswith("sweeps") and _layer(dep) > _layer(module)
    ]
    assert not upward, upward


def test_the_stage_order_catches_an_upward_import() -> None:
    assert _layer("sweeps.plan.build") > _layer("sweeps.record.store") > _layer("sweeps.trials")
    assert _layer("sweeps.cli") == len(LAYERS) - 1 and _layer("sweeps.words") == 0


NOT_TAGS = {"sweeps.trainables"}  # the entry point group that installed packages register trainables under


def test_every_tag_name_lives_in_the_tags_module() -> None:
    home = ROOT / "sweeps" / "record" / "tags.py"
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path != home
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("sweeps.")
        and node.value not in NOT_TAGS
    ]
    assert not found, found


def test_no_import_cycle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("forbidden", ["ray", "mlflow", "sweeps"])
def test_trainables_import_neither_ray_nor_mlflow_nor_the_service(forbidden: str) -> None:
    offenders = []
    for path in (ROOT / "trainables").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names if name.split(".")[0] == forbidden]
    assert not offenders, offenders
