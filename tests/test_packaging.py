"""The package as `pip` installs it: every package of the tree in the wheel, the built-in configs with it.

The slow test builds an sdist, a wheel from that sdist (as `pip install` from an sdist would), installs the
wheel into a folder of its own away from the checkout and runs `sweep plan` there: the built-in studies
must come from the installed `sweeps_conf` (pkg://), not from the checkout's conf/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from setuptools import find_namespace_packages, find_packages

from sweeps.config.sources import BUILTIN_PACKAGE, CHECKOUT, CONF_DIR

PYPROJECT = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())


def test_every_package_of_the_tree_is_listed() -> None:
    found = find_packages(str(CHECKOUT), include=["sweeps", "sweeps.*", "trainables", "trainables.*"])
    configs = [BUILTIN_PACKAGE, *(f"{BUILTIN_PACKAGE}.{name}" for name in find_namespace_packages(str(CONF_DIR)))]
    assert sorted(PYPROJECT["tool"]["setuptools"]["packages"]) == sorted(found + configs)
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {BUILTIN_PACKAGE: "conf"}


@pytest.mark.slow
def test_an_installed_wheel_plans_a_built_in_study_away_from_the_checkout(tmp_path: Path) -> None:
    dist, target, empty = tmp_path / "dist", tmp_path / "site", tmp_path / "empty"
    empty.mkdir()
    build = "from setuptools import build_meta; import sys; print(build_meta.build_sdist(sys.argv[1]))"
    sdist = subprocess.run([sys.executable, "-c", build, str(dist)], cwd=CHECKOUT, capture_output=True, text=True, check=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    source = dist / sdist.stdout.splitlines()[-1]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)], check=True, timeout=600)
    (wheel,) = dist.glob("*.whl")
    conf_files = {path.relative_to(CONF_DIR).as_posix() for path in CONF_DIR.rglob("*.yaml")}
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name.removeprefix(f"{BUILTIN_PACKAGE}/") for name in archive.namelist() if name.startswith(f"{BUILTIN_PACKAGE}/")}
    assert conf_files and conf_files <= shipped
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True, timeout=600)

    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env.update(PYTHONPATH=str(target), HOME=str(tmp_path))  # the installed copy only; dependencies: site-packages
    where = "import sweeps, sweeps_conf, sweeps.config.sources as s; print(sweeps.__file__, sweeps_conf.__file__, s.BUILTIN)"
    found = subprocess.run([sys.executable, "-c", where], cwd=empty, env=env, capture_output=True, text=True, check=True)
    package, configs, builtin = found.stdout.split()
    assert Path(package).is_relative_to(target) and Path(configs).is_relative_to(target), found.stdout
    assert builtin == f"pkg://{BUILTIN_PACKAGE}"

    uri = f"tracking.uri=sqlite:///{tmp_path / 'none.db'}"
    plan = subprocess.run([sys.executable, "-m", "sweeps", "plan", "jhu_fashion", "offline=true", uri],
                          cwd=empty, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    assert "jhu_fashion" in plan.stdout and "unique trials" in plan.stdout
    assert list(empty.iterdir()) == []
