"""Where a study's configs come from: the built-in ones, and a course folder of the user's own.

The built-in configs are the repository's conf/: read in place when sweeps runs from a checkout (an
editable install, or PYTHONPATH set to it), else from the installed package `sweeps_conf` through Hydra's
pkg:// search path. A course folder (`--conf DIR`, or SWEEPS_CONF) is one more entry of Hydra's search
path: its study/, model/, data/, … files sit beside the built-in ones, and its Python modules
(DIR/mymodule.py, DIR/mypackage/) import as if DIR were on PYTHONPATH. A file name both hold is refused,
never silently shadowed. What the groups and their options are is asked of Hydra's config loader.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hydra import initialize_config_dir, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigSource
from omegaconf import DictConfig

from sweeps.errors import SweepError

BUILTIN_PACKAGE = "sweeps_conf"  # conf/ as the wheel installs it (pyproject.toml's package-dir)
CONF_VARIABLE = "SWEEPS_CONF"  # a course folder, for every command that takes --conf
CHECKOUT = Path(__file__).resolve().parents[2]  # the repository, when sweeps runs from one
CONF_DIR = CHECKOUT / "conf"
FROM_CHECKOUT = (CONF_DIR / "config.yaml").is_file()
BUILTIN: Path | str = CONF_DIR if FROM_CHECKOUT else f"pkg://{BUILTIN_PACKAGE}"
_HYDRA_GROUP = "hydra"  # Hydra's own groups, in every search path: not the study's
STUDY_GROUP = "study"


@dataclass(frozen=True)
class Configs:
    """One plan's search path: the built-in configs (a folder, or a pkg:// package) and a course folder."""

    builtin: Path | str = BUILTIN
    course: Path | None = None

    @contextmanager
    def loader(self) -> Iterator[None]:
        """Hydra initialised on the built-in configs (`compose` and the config loader work inside)."""
        GlobalHydra.instance().clear()
        if isinstance(self.builtin, Path):
            with initialize_config_dir(str(self.builtin), version_base=None):
                yield
        else:
            with initialize_config_module(self.builtin.removeprefix("pkg://"), version_base=None):
                yield

    @property
    def search_path(self) -> list[str]:
        """The override that adds the course folder to Hydra's search path (none without one)."""
        if self.course is None:
            return []
        quoted = str(self.course).replace("\\", "\\\\").replace("'", "\\'")
        return [f"hydra.searchpath=['file://{quoted}']"]

    def catalogue(self) -> dict[str, list[str]]:
        """Every config group (`study` too) with its options, built-in and the course's together; files
        named `_…` hold what a group's options share and are not options, and a folder without options
        (a course's Python package, its images) is no group."""
        with self.loader():
            loader = GlobalHydra.instance().config_loader()
            groups = loader.get_group_options("", results_filter=ObjectType.GROUP, overrides=self.search_path)
            options = {name: _options(loader.get_group_options(name, overrides=self.search_path)) for name in groups}
        return {name: names for name, names in options.items() if names and name != _HYDRA_GROUP}

    def groups(self) -> dict[str, list[str]]:
        """The config groups a study picks options of, with their options."""
        return {name: options for name, options in self.catalogue().items() if name != STUDY_GROUP}

    def studies(self) -> list[str]:
        return self.catalogue().get(STUDY_GROUP, [])

    def read(self, group: str, name: str) -> DictConfig:
        """`group/name.yaml` as Hydra's config source reads it, from the course folder or the built-in configs."""
        for entry in [*([self.course] if self.course else []), self.builtin]:
            with Configs(entry).loader():
                source = _main_source()
                if source.is_config(f"{group}/{name}"):
                    return source.load_config(f"{group}/{name}").config  # type: ignore[return-value]
        raise SweepError(f"{group}: no {name}.yaml in {self.course or self.builtin}")

    def file(self, relative: str) -> str:
        """Where a built-in config is, for a message: a path, or a pkg:// address."""
        return str(self.builtin / relative) if isinstance(self.builtin, Path) else f"{self.builtin}/{relative}"

    def open_course(self) -> None:
        """The course folder made ready for this process. A course file whose name a built-in file has too
        is a SweepError naming both; then the folder goes first on `sys.path`, as PYTHONPATH would put it,
        so the course's own Python modules import (`model._target_: mymodule.Net`) for the plan's model
        checks and code hashes. Ray's workers get it through `sweeps.run.experiment.runtime_env`."""
        if self.course is None:
            return
        self._check_names(self.course)
        if str(self.course) not in sys.path:
            sys.path.insert(0, str(self.course))
            importlib.invalidate_caches()  # modules written since this process last looked are found

    def _check_names(self, course: Path) -> None:
        """A course file whose name a built-in file has too: a SweepError naming both."""
        clashes = [relative for relative in sorted(self._builtin_files()) if (course / relative).is_file()]
        if clashes:
            relative = clashes[0]
            raise SweepError(
                f"course folder: {course / relative} has the name of the built-in {self.file(relative)}; "
                "rename yours (both would be the same option)"
            )

    def _builtin_files(self) -> set[str]:
        """Every built-in config file, as `group/name.yaml` (sub-groups' too)."""
        with Configs(self.builtin).loader():
            source = _main_source()
            found: set[str] = set()
            pending = [""]
            while pending:
                group = pending.pop()
                prefix = f"{group}/" if group else ""
                found |= {f"{prefix}{name}.yaml" for name in source.list(group, ObjectType.CONFIG)}
                pending += [f"{prefix}{name}" for name in source.list(group, ObjectType.GROUP)]
            return found


def course_folder(conf: str | Path | None) -> Path | None:
    """The course folder given (`--conf`, `conf=`), else SWEEPS_CONF's, else None; checked: a folder with study/."""
    where = "--conf"
    if conf is None or conf == "":
        conf, where = os.environ.get(CONF_VARIABLE) or None, CONF_VARIABLE
    if conf is None:
        return None
    folder = Path(conf).expanduser().resolve()
    remedy = "give a course folder with a study/ folder of study files (`sweep init DIR` writes one)"
    if not folder.is_dir():
        raise SweepError(f"{where}: {conf}: no such folder; {remedy}")
    if not (folder / STUDY_GROUP).is_dir():
        raise SweepError(f"{where}: {conf}: no study/ folder in it; {remedy}")
    return folder


def _options(names: list[str]) -> list[str]:
    return sorted(name for name in names if not name.startswith("_"))


def _main_source() -> ConfigSource:
    """The search path entry Hydra was initialised on (not Hydra's own configs, nor structured ones)."""
    return next(source for source in GlobalHydra.instance().config_loader().get_sources() if source.provider == "main")
