"""The Pulumi project a ``gpufleet`` command acts on: found like ``pulumi`` finds it.

Every command acts on the **user's** project, never on the folder gpufleet was installed
from: :func:`find` walks up from the current directory (or from ``-C DIR``) to the first
``Pulumi.yaml`` and reads its ``name`` and ``stackConfigDir`` (stack files live there;
without it, next to ``Pulumi.yaml``, as Pulumi does). The project's files:

- stacks: ``<stackConfigDir>/Pulumi.<stack>.yaml``
- the fleet file: ``<stackConfigDir>/fleet.yaml``
- policy pack config: ``policies/config/<stack>.json`` (what CI passes to ``pulumi preview
  --policy-pack-config``)

The package's own data (``modules/data``, the stack templates) stays where the package is:
:data:`PACKAGE_ROOT`. Only a checkout (:data:`CHECKOUT_ROOT`) also has the repository's own
Pulumi project around it (its ``stacks/`` are the templates, its ``policies/`` the CrossGuard
pack); an installed gpufleet has the templates in ``gpufleet/templates`` and writes a pack into
the user's project (``gpufleet init``, from ``gpufleet/pack_template``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .exit_codes import BadInputError

#: The file that makes a directory a Pulumi project (Pulumi also reads ``Pulumi.yml``).
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
#: The folder above the ``gpufleet`` package (site-packages when installed from a wheel, the
#: repository in a checkout): never where a command reads or writes the user's files.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _checkout_root() -> Path | None:
    """The repository gpufleet runs from (an editable install): where ``gpufleet.modules`` is
    the repository's ``modules/`` (pyproject.toml maps it); None when installed from a wheel,
    whose ``gpufleet/modules`` is inside the package."""
    spec = importlib.util.find_spec("gpufleet.modules")
    origin = Path(spec.origin).resolve().parent if spec is not None and spec.origin else None
    return PACKAGE_ROOT if origin == PACKAGE_ROOT / "modules" else None


#: The checkout gpufleet runs from, or None for an installed gpufleet (see :func:`_checkout_root`).
CHECKOUT_ROOT = _checkout_root()
#: The shipped stack of each environment, the template ``gpufleet init`` starts from: the
#: source tree's ``stacks/`` in a checkout, the package's ``templates/`` when installed from a
#: wheel (pyproject.toml maps ``stacks/`` there).
TEMPLATES_DIR = CHECKOUT_ROOT / "stacks" if CHECKOUT_ROOT is not None else Path(__file__).resolve().parent / "templates"
#: The policy pack ``gpufleet init`` writes into a project without one (``policies/``:
#: ``PulumiPolicy.yaml``, ``__main__.py``, ``requirements.txt``), package data.
PACK_TEMPLATE_DIR = Path(__file__).resolve().parent / "pack_template"
FLEET_FILE = "fleet.yaml"
POLICY_CONFIG_DIR = Path("policies") / "config"


class NoProjectError(BadInputError):
    """No ``Pulumi.yaml`` in the directory or above it: one line, exit 2."""


@dataclass(frozen=True)
class Project:
    """A Pulumi project on disk and where gpufleet finds its files."""

    #: the directory holding ``Pulumi.yaml``
    root: Path
    #: ``name`` in ``Pulumi.yaml``
    name: str
    #: where the stack files are (``stackConfigDir``, default ``root``)
    stacks_dir: Path
    #: ``policies/config``: one ``--policy-pack-config`` file per stack
    policy_config_dir: Path
    #: ``<stacks_dir>/fleet.yaml``
    fleet_file: Path
    #: its ``Pulumi.yaml`` (None: a stacks dir without a project file, e.g. ``--stacks-dir``)
    project_file: Path | None = None

    # ------------------------------------------------------------ building one

    @classmethod
    def load(cls, file: Path) -> Project:
        """The project whose ``Pulumi.yaml`` is ``file``; a ConfigError (exit 2) naming the
        file when it is not a valid project file."""
        from gpufleet.modules import config as stack_config

        file = Path(file).absolute()
        doc = stack_config.read_yaml_file(file, "Pulumi project file", shown=str(file))
        if not isinstance(doc, dict):
            raise stack_config.ConfigError(str(file), "(file)", doc, "a mapping with at least a 'name' (a Pulumi.yaml)")
        name = doc.get("name")
        if not isinstance(name, str) or not name.strip():
            raise stack_config.ConfigError(str(file), "name", name if "name" in doc else stack_config.Shown("nothing"),
                                           "the project's name (a string)")
        config_dir = doc.get("stackConfigDir")
        if config_dir is not None and (not isinstance(config_dir, str) or not config_dir.strip()):
            raise stack_config.ConfigError(str(file), "stackConfigDir", config_dir,
                                           "a directory for the stack files, relative to Pulumi.yaml")
        root = file.parent
        return cls.at(root, name, root / config_dir if config_dir else root, file)

    @classmethod
    def at(cls, root: Path, name: str, stacks_dir: Path | None = None, project_file: Path | None = None) -> Project:
        root = Path(os.path.normpath(Path(root).absolute()))
        stacks = Path(os.path.normpath(stacks_dir if stacks_dir is not None else root))
        return cls(root=root, name=name, stacks_dir=stacks, policy_config_dir=root / POLICY_CONFIG_DIR,
                   fleet_file=stacks / FLEET_FILE, project_file=project_file)

    @classmethod
    def for_stacks_dir(cls, stacks_dir: Path) -> Project:
        """A project whose stack files are in ``stacks_dir`` (the hidden ``--stacks-dir``
        option, tests): its root is the directory above, read as a project when it has a
        ``Pulumi.yaml``; the stacks dir is ``stacks_dir`` whatever that file says."""
        stacks_dir = Path(stacks_dir).absolute()
        root = stacks_dir.parent
        for candidate in PROJECT_FILES:
            if (root / candidate).is_file():
                return cls.at(root, cls.load(root / candidate).name, stacks_dir, root / candidate)
        return cls.at(root, "gpufleet", stacks_dir)

    # ------------------------------------------------------------ its files

    def stack_file(self, stack: str) -> Path:
        return self.stacks_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        """The project's stack names (``Pulumi.<stack>.yaml`` in the stacks dir), sorted."""
        if not self.stacks_dir.is_dir():
            return []
        return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in self.stacks_dir.glob("Pulumi.*.yaml")
                      if p.is_file() and p.name != "Pulumi.yaml")

    def policy_config(self, stack: str) -> Path:
        return self.policy_config_dir / f"{stack}.json"

    def shown(self, path: Path | str) -> str:
        """How messages name a file: relative to the project root when inside it. Without a
        project file the root is known only for this repository's layout (``<root>/stacks``);
        any other stacks dir shows its paths as they are."""
        if self.project_file is None and self.stacks_dir != self.root / "stacks":
            return str(path)
        try:
            return str(Path(path).absolute().relative_to(self.root))
        except ValueError:
            return str(path)

    @property
    def header(self) -> str:
        """The first line of every command's human output: the project it acts on."""
        return f"project {self.name} ({self.root})"

    def announce(self, machine: bool = False, stream: TextIO | None = None) -> None:
        """Print :attr:`header`: first on stdout for human output; on stderr when stdout is
        a document for a machine (``--json``, markdown for a PR comment), which stays pure."""
        print(self.header, file=stream or (sys.stderr if machine else sys.stdout))


def find(start: Path | str | None = None) -> Project:
    """The project of ``start`` (default: the current directory): the nearest directory at or
    above it with a ``Pulumi.yaml``. :class:`NoProjectError` when there is none."""
    here = Path(start if start is not None else Path.cwd()).absolute()
    for directory in (here, *here.parents):
        for name in PROJECT_FILES:
            if (directory / name).is_file():
                return Project.load(directory / name)
    raise NoProjectError(f"no Pulumi project in {here} or above it (no Pulumi.yaml): run gpufleet inside your "
                         f"project, or point at it with -C DIR")


def find_optional(start: Path | str | None = None) -> Project | None:
    """:func:`find`, or None outside any project."""
    try:
        return find(start)
    except NoProjectError:
        return None


def coerce(project: Project | Path | str | None) -> Project:
    """A :class:`Project` from what a caller passes: a project, a project directory (its
    ``Pulumi.yaml`` when it has one, else a directory whose ``stacks/`` holds the stack
    files), or None: the current directory's project."""
    if isinstance(project, Project):
        return project
    if project is None:
        return find()
    root = Path(project)
    for name in PROJECT_FILES:
        if (root / name).is_file():
            return Project.load(root / name)
    return Project.at(root, "gpufleet", root / "stacks")  # a checkout-shaped directory without Pulumi.yaml


def of(args: Any) -> Project:
    """The project a parsed command line acts on (found once; ``-C`` has already moved the
    current directory)."""
    found = getattr(args, "project", None)
    if found is None:
        found = find()
        args.project = found
    return found


def stack_names(prefix: str = "", parsed_args: Any = None, **_: Any) -> list[str]:
    """Shell completion (argcomplete) for a stack argument: the project's stack names."""
    start = getattr(parsed_args, "cwd", None) or None
    found = find_optional(start)
    return [s for s in (found.stacks() if found else []) if s.startswith(prefix)]
