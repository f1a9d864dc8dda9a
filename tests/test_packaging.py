"""The package as `pip` installs it: every package of the tree in the wheel, the built-in configs with it.

The slow tests build an sdist, a wheel from that sdist (as `pip install` from an sdist would), install the
wheel into a folder of its own away from the checkout (once for the module) and run `sweep plan` there: the
built-in studies must come from the installed `sweeps_conf` (pkg://), not from the checkout's conf/, and
course folders copied out of tests/courses plan with `--conf`, their own Python modules imported from them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib
from helpers.shapes_images import write_shapes
from setuptools import find_namespace_packages, find_packages

from sweeps.config.sources import BUILTIN_PACKAGE, CHECKOUT, CONF_DIR

COURSES = Path(__file__).parent / "courses"
PYPROJECT = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())


def test_every_package_of_the_tree_is_listed() -> None:
    found = find_packages(str(CHECKOUT), include=["sweeps", "sweeps.*", "trainables", "trainables.*"])
    configs = [BUILTIN_PACKAGE, *(f"{BUILTIN_PACKAGE}.{name}" for name in find_namespace_packages(str(CONF_DIR)))]
    assert sorted(PYPROJECT["tool"]["setuptools"]["packages"]) == sorted(found + configs)
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {BUILTIN_PACKAGE: "conf"}


@dataclass(frozen=True)
class Installed:
    """The wheel built from an sdist of the checkout, installed into a folder of its own."""

    wheel: Path
    target: Path  # what `pip install --target` wrote: the only copy of sweeps on the PYTHONPATH
    home: Path

    @property
    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
        env.update(PYTHONPATH=str(self.target), HOME=str(self.home))  # dependencies: site-packages
        return env

    def sweep(self, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """`sweep ARGS` of the installed copy, started in `cwd`."""
        return subprocess.run([sys.executable, "-m", "sweeps", *args], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed")
    dist, target = root / "dist", root / "site"
    build = "from setuptools import build_meta; import sys; print(build_meta.build_sdist(sys.argv[1]))"
    sdist = subprocess.run([sys.executable, "-c", build, str(dist)], cwd=CHECKOUT, capture_output=True, text=True, check=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    source = dist / sdist.stdout.splitlines()[-1]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)], check=True, timeout=600)
    (wheel,) = dist.glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True, timeout=600)
    return Installed(wheel, target, root)


@pytest.mark.slow
def test_an_installed_wheel_plans_a_built_in_study_away_from_the_checkout(installed: Installed, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    conf_files = {path.relative_to(CONF_DIR).as_posix() for path in CONF_DIR.rglob("*.yaml")}
    with zipfile.ZipFile(installed.wheel) as archive:
        shipped = {name.removeprefix(f"{BUILTIN_PACKAGE}/") for name in archive.namelist() if name.startswith(f"{BUILTIN_PACKAGE}/")}
    assert conf_files and conf_files <= shipped

    where = "import sweeps, sweeps_conf, sweeps.config.sources as s; print(sweeps.__file__, sweeps_conf.__file__, s.BUILTIN)"
    found = subprocess.run([sys.executable, "-c", where], cwd=empty, env=installed.env, capture_output=True, text=True, check=True)
    package, configs, builtin = found.stdout.split()
    assert Path(package).is_relative_to(installed.target) and Path(configs).is_relative_to(installed.target), found.stdout
    assert builtin == f"pkg://{BUILTIN_PACKAGE}"

    plan = installed.sweep(empty, "plan", "jhu_fashion", "offline=true", f"tracking.uri=sqlite:///{tmp_path / 'none.db'}")
    assert plan.returncode == 0, plan.stderr
    assert "jhu_fashion" in plan.stdout and "unique trials" in plan.stdout
    assert list(empty.iterdir()) == []


@pytest.mark.slow
def test_an_installed_wheel_plans_courses_of_the_users_own_from_outside_the_checkout(installed: Installed, tmp_path: Path) -> None:
    """The CIFAR tutorial course, and the shapes course whose model's `_target_` module is in its own folder,
    each copied away from the checkout and planned from a folder holding only the shapes' images."""
    tutorial = Path(shutil.copytree(COURSES / "cifar_tutorial", tmp_path / "cifar_tutorial"))
    shapes = Path(shutil.copytree(COURSES / "shapes" / "course", tmp_path / "shapes", ignore=shutil.ignore_patterns("__pycache__")))
    work = tmp_path / "work"
    write_shapes(work / "data" / "shapes", train=2, test=1)  # paths.data_root is data, in the working folder
    uri = f"tracking.uri=sqlite:///{tmp_path / 'none.db'}"

    plan = installed.sweep(work, "plan", "--conf", str(tutorial), "cifar_tutorial", "offline=true", uri, "--json")
    assert plan.returncode == 0, plan.stderr
    assert [question["id"] for question in json.loads(plan.stdout)["questions"]] == ["q01", "q02", "q03", "q04", "q05"]

    plan = installed.sweep(work, "plan", "--conf", str(shapes), "shapes", uri, "--json")
    assert plan.returncode == 0, plan.stderr  # the model checks imported shapes_course from the course folder
    trials = json.loads(plan.stdout)["trials"]
    assert len({trial["parameters"] for trial in trials}) == 4  # widths ×0.5, ×1, ×2, and ResNet-18
    assert sorted(path.name for path in work.iterdir()) == ["data"]  # nothing written
