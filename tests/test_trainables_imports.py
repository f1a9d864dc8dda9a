"""How trainables/ hangs together: planning imports no torch, the torch registries have the names the
schemas allow, no module imports another that imports it back (not even inside a function), the text
kind does not reach into the image kind, and nothing imports Ray or MLflow."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps.plan.build import plan_study
from trainables.image.data import LOADERS
from trainables.image.losses import LOSSES
from trainables.image.schema import LOSS_NAMES
from trainables.image.sources import SOURCES
from trainables.kinds import KINDS, kind
from trainables.optim import OPTIMIZERS
from trainables.schema import OPTIMIZER_NAMES

PACKAGE = Path(__file__).resolve().parents[1] / "trainables"

# Run in a fresh interpreter: the trial configs from stdin validated, counted and their data checked,
# then an on-disk source's missing files; prints the heavy packages that got imported.
PLAN_TIME = """
import json, sys
from trainables.kinds import kind
for config in json.load(sys.stdin):
    trainable = kind(config["trainable"])
    trainable.schema.model_validate(config)
    trainable.parameters(config, sys.argv[1])
    trainable.ensure_available(config["data"], sys.argv[1])
try:  # files missing and no download: checked, not fetched (fetching imports torchvision)
    kind("image").ensure_available({"source": "fashion_mnist", "download": False}, sys.argv[1])
    raise AssertionError("missing files passed the check")
except FileNotFoundError:
    pass
heavy = sorted(name for name in ("torch", "torchvision", "sklearn", "ray", "mlflow") if name in sys.modules)
print(json.dumps(heavy))
"""


def test_planning_imports_no_torch(tmp_path: Path) -> None:
    configs = [
        plan_study(study, ["offline=true"], questions=[question]).trials[0].config
        for study, question in (("jhu_fashion", "q01"), ("toxic_comments", "q01"))
    ]
    assert {config["trainable"] for config in configs} == set(KINDS)
    done = subprocess.run(
        [sys.executable, "-c", PLAN_TIME, str(tmp_path)],
        input=json.dumps(configs),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == []


def test_every_kind_trains_with_a_function_imported_when_asked() -> None:
    for name in KINDS:
        assert callable(kind(name).train)


def test_torch_registries_have_the_names_the_schemas_allow() -> None:
    assert tuple(LOSSES) == LOSS_NAMES
    assert tuple(OPTIMIZERS) == OPTIMIZER_NAMES
    assert tuple(LOADERS) == SOURCES


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every module `path` imports, at module level or inside a function: trainables' own by module name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from package import module` imports the module; `from module import name` the module.
            found.update(f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in modules)
            found.add(node.module)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(path) for path in paths}
    return {_module_name(path): _imports(path, modules) for path in paths}


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    own = {module: {name for name in imported if name in graph} for module, imported in graph.items()}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError(f"import cycle: {' -> '.join([*path[path.index(module):], module])}")
        if module in done:
            return
        for imported in sorted(own[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(own):
        visit(module, [])


def test_text_kind_does_not_reach_into_the_image_kind(graph: dict[str, set[str]]) -> None:
    reaching = {module: sorted(name for name in imported if name.startswith("trainables.image"))
                for module, imported in graph.items() if module.startswith("trainables.text")}
    assert {module: names for module, names in reaching.items() if names} == {}


def test_nothing_imports_ray_or_mlflow(graph: dict[str, set[str]]) -> None:
    heavy = {module: sorted(name for name in imported if name.split(".")[0] in ("ray", "mlflow"))
             for module, imported in graph.items()}
    assert {module: names for module, names in heavy.items() if names} == {}
