"""The distribution (issue #13): a real wheel, built from this source tree and installed into a
clean venv, puts exactly one top-level import package (``gpufleet``) into site-packages, with
its data, and its console script plans, checks, replicates and inits a project that is not
this checkout, from the packaged templates, writing only into that project.

The slow test works offline: the new venv sees this venv's third-party packages through a
``.pth`` file (Python adds that folder to ``sys.path`` but does not process the ``.pth`` files
inside it, so the editable install of this checkout stays invisible). Two fast tests guard that
shortcut: pyproject's package list is every package of the source tree, and every third-party
module the package imports is a declared dependency (or, on an optional path, an extra's).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from gpufleet.policies import POLICIES

from gpufleet import project
from gpufleet.reports.policy import PACK_DIR

from .helpers import FIXTURE_ROOT, ROOT, STACK_FOLDER
from .test_init import served_policies

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
VERSION = PYPROJECT["project"]["version"]
#: the source folders of the packages that hold code (pyproject's package-dir): gpufleet, gpufleet.modules, ...
CODE_DIRS = {pkg: ROOT / folder for pkg, folder in SETUPTOOLS["package-dir"].items()
             if (ROOT / folder / "__init__.py").is_file()}
#: data-only packages (no __init__.py): the stack templates
DATA_PACKAGES = {"gpufleet.templates"}
#: modules that are an optional path as a whole: the extra that brings what they import
OPTIONAL_MODULES = {"gpufleet.chart_render": "render"}
NOT_SOURCE = ("__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normal(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in requirements} - {"gpufleet"}


def _source_files(folder: Path, pattern: str) -> list[Path]:
    return [p for p in folder.rglob(pattern) if p.is_file() and not set(p.parts) & set(NOT_SOURCE)]


def _modules() -> dict[str, Path]:
    """Every module of the distribution: its dotted name and its source file."""
    out: dict[str, Path] = {}
    for pkg, folder in CODE_DIRS.items():
        for path in _source_files(folder, "*.py"):
            rel = path.relative_to(folder)
            if all((folder.joinpath(*rel.parts[:i]) / "__init__.py").is_file() for i in range(len(rel.parts))):
                parts = rel.with_suffix("").parts  # a module of a package (every folder above has __init__.py)
                out[".".join((pkg, *(parts[:-1] if parts[-1] == "__init__" else parts)))] = path
    return out


# ---------------------------------------------------------------- fast: the package list, the imports

def test_the_package_list_is_every_package_of_the_source_tree():
    found = {".".join((pkg, *p.parent.relative_to(folder).parts)) for pkg, folder in CODE_DIRS.items()
             for p in _source_files(folder, "__init__.py")}
    assert set(CODE_DIRS) == {"gpufleet", "gpufleet.modules", "gpufleet.policies"}
    assert set(SETUPTOOLS["packages"]) == found | DATA_PACKAGES, "pyproject.toml's [tool.setuptools] packages"


def test_slow_tests_run_by_default():
    """``./run test`` (so CI) runs the suite as pytest is configured: the wheel test included."""
    options = PYPROJECT["tool"]["pytest"]["ini_options"]
    assert "slow" in " ".join(options["markers"]) and "-m" not in options["addopts"].split()
    assert "not slow" not in (ROOT / "run").read_text() + (ROOT / ".ci" / "run").read_text()


def _imports(tree: ast.AST, package: str) -> list[tuple[str, bool]]:
    """(module, lazy) of every import that runs (relative ones resolved from ``package``;
    ``from M import N`` gives ``M`` and ``M.N``): lazy inside a function or a ``try`` that
    catches ImportError; ``if TYPE_CHECKING:`` blocks left out."""
    found: list[tuple[str, bool]] = []

    def catches_import_error(node: ast.Try) -> bool:
        return any(h.type is None or re.search(r"\b(ImportError|ModuleNotFoundError)\b", ast.unparse(h.type))
                   for h in node.handlers)

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, lazy) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - child.level + 1] if child.level else []
                module = ".".join([*base, *([child.module] if child.module else [])])
                found.extend([(module, lazy), *((f"{module}.{alias.name}", lazy) for alias in child.names)])
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, True)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(ast.Module(body=[other], type_ignores=[]), lazy)
            elif isinstance(child, ast.Try) and catches_import_error(child):
                visit(child, True)
            else:
                visit(child, lazy)

    visit(tree, False)
    return found


def test_every_third_party_import_is_a_declared_dependency():
    """What the slow test's shared site-packages provides must be what pip installs from the
    wheel's metadata: a module imported when its file is imported needs a ``dependencies``
    entry; one imported lazily (or by an optional module) an extra's entry at least. Only
    ``gpufleet`` is installed: no import of the checkout's folder names."""
    required = _requirement_names(PYPROJECT["project"]["dependencies"])
    extras = {name: _requirement_names(reqs) for name, reqs in PYPROJECT["project"]["optional-dependencies"].items()}
    providers = {name: {_normal(d) for d in dists} for name, dists in packages_distributions().items()}
    problems: dict[str, None] = {}
    for module, path in sorted(_modules().items()):
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        shown = path.relative_to(ROOT)
        for name, lazy in sorted(_imports(ast.parse(path.read_text()), package), key=lambda i: i[1]):  # eager first
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if top == "gpufleet":
                if name in OPTIONAL_MODULES and not lazy and module not in OPTIONAL_MODULES:
                    problems[f"{shown}: imports the optional {name} when it is imported"] = None
                continue
            extra = OPTIONAL_MODULES.get(module)
            allowed = required | (extras[extra] if extra else set().union(*extras.values()) if lazy else set())
            if not providers.get(top, set()) & allowed and not any(k.startswith(f"{shown}: {top} ") for k in problems):
                problems[f"{shown}: {top} ({'lazily, ' if lazy else ''}from "
                         f"{sorted(providers.get(top, [])) or 'nothing installed: not in the wheel'})"] = None
    assert not problems, "imports not declared in pyproject.toml (dependencies; for a lazy import an extra):\n" + (
        "\n".join(problems))


def test_an_installed_gpufleet_is_told_from_this_checkout(monkeypatch):
    """Here (an editable install) the templates and the pack are the checkout's own files;
    installed from a wheel (``gpufleet.modules`` inside the package) there is no checkout."""
    import importlib.machinery
    import importlib.util

    assert project.CHECKOUT_ROOT == ROOT and PACK_DIR == ROOT / "policies"
    assert project.TEMPLATES_DIR.parent == ROOT and project.TEMPLATES_DIR.name == STACK_FOLDER
    installed = importlib.machinery.ModuleSpec("gpufleet.modules", None, origin=str(
        project.PACKAGE_ROOT / "gpufleet" / "modules" / "__init__.py"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: installed if name == "gpufleet.modules" else real(name, *a))
    assert project._checkout_root() is None


# ---------------------------------------------------------------- slow: build, install, use

#: what the source-tree copy leaves out: VCS, venvs (the pack's policies/venv too), caches, build output
BUILD_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "bench-*.json",
                                      *NOT_SOURCE)


def _run(argv: list[str | Path], cwd: Path, timeout: float = 300, fails: bool = False) -> subprocess.CompletedProcess:
    """``argv`` in ``cwd``, outside this venv; no traceback unless it is meant to fail."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env={**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert fails or "Traceback" not in done.stdout + done.stderr, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _ok(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 0, f"{done.args}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout.splitlines()


def _state(*folders: Path, recursive: bool = True) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file under ``folders`` (Python's bytecode caches left out)."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for folder in folders if folder.is_dir()
            for p in (folder.rglob("*") if recursive else folder.iterdir())
            if p.is_file() and "__pycache__" not in p.parts}


def _checkout_state() -> dict[str, tuple[int, int]]:
    """The checkout's own project files a command could wrongly write: its stack files, policy
    configs and pack, and build output at its root."""
    state = {**_state(project.TEMPLATES_DIR, project.PACKAGE_ROOT / project.POLICY_CONFIG_DIR),
             **_state(PACK_DIR, recursive=False)}
    state.update({str(ROOT / name): (0, 0) for name in ("build", "dist", "gpufleet.egg-info") if (ROOT / name).exists()})
    return state


def _build_wheel(tmp: Path) -> Path:
    """The wheel of this source tree, built offline by pip (no build isolation: this venv's
    setuptools) from a copy of the tree, so the build's ``build/`` and ``*.egg-info`` never go
    into the checkout and a stale ``build/lib`` never leaks removed files into the wheel."""
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=BUILD_IGNORE)
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
              "--wheel-dir", tmp / "dist", source], tmp))
    [wheel] = (tmp / "dist").glob("gpufleet-*.whl")
    return wheel


def _check_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {n.split("/")[0] for n in names} == {"gpufleet", f"gpufleet-{VERSION}.dist-info"}
    expected = {f"gpufleet/templates/Pulumi.{env}.yaml" for env in ("dev", "staging", "prod")}
    expected |= {f"gpufleet/pack_template/{p.name}" for p in (ROOT / "gpufleet" / "pack_template").iterdir()}
    for pkg, folder in CODE_DIRS.items():
        where = pkg.replace(".", "/")
        expected |= {f"{where}/{p.relative_to(folder).as_posix()}" for p in _source_files(folder / "data", "*.json")}
    expected |= {f"{m.replace('.', '/')}{'/__init__' if p.name == '__init__.py' else ''}.py"
                 for m, p in _modules().items()}
    assert "gpufleet/modules/data/instance_types.json" in expected and len(expected) > 150
    assert not expected - names, sorted(expected - names)
    stray = {n for n in names - expected if not n.startswith(f"gpufleet-{VERSION}.dist-info/")}
    assert not stray, sorted(stray)  # nothing else: no chart archives, no tests


def _clean_venv(tmp: Path, wheel: Path) -> tuple[Path, Path]:
    """A new venv, this venv's third-party packages visible through a .pth file, the wheel
    installed into it: (its python, its site-packages)."""
    venv = tmp / "venv"
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", venv], tmp))
    python = venv / "bin" / "python"
    site = Path(_ok(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp))[0])
    shared = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "_gpufleet_test_dependencies.pth").write_text("".join(f"{p}\n" for p in shared))
    _ok(_run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index",
              wheel], tmp))
    return python, site


@pytest.mark.on_data_day
@pytest.mark.slow
def test_the_wheel_installs_one_package_that_runs_a_project_of_its_own(tmp_path):
    from importlib.metadata import version

    assert int(version("setuptools").split(".")[0]) >= 77, "the test extra's setuptools>=77 builds the wheel offline"
    checkout_before = _checkout_state()
    wheel = _build_wheel(tmp_path)
    _check_wheel_contents(wheel)
    python, site = _clean_venv(tmp_path, wheel)
    gpufleet = python.parent / "gpufleet"

    user = tmp_path / "acme"  # a project of its own: its Pulumi.yaml, stacks, policy configs
    shutil.copytree(FIXTURE_ROOT, user, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    header = f"project {project.Project.load(user / 'Pulumi.yaml').name} ({user})"

    # the installed package only: the checkout's folders are not importable, gpufleet is the wheel's
    probe = ("import importlib.util, json, gpufleet.modules, gpufleet.policies\n"
             "from gpufleet import project\n"
             "print(json.dumps({'files': [gpufleet.__file__, gpufleet.modules.__file__, gpufleet.policies.__file__,\n"
             "                            str(project.TEMPLATES_DIR)],\n"
             "                  'checkout': project.CHECKOUT_ROOT and str(project.CHECKOUT_ROOT),\n"
             "                  'found': [n for n in ('modules', 'gpufleet_policies') if importlib.util.find_spec(n)]}))")
    seen = json.loads(_ok(_run([python, "-c", probe], user))[0])
    assert all(Path(f).is_relative_to(site / "gpufleet") for f in seen["files"]), seen
    assert seen["checkout"] is None and seen["found"] == [], seen
    for name in ("modules", "gpufleet_policies"):
        failed = _run([python, "-c", f"import {name}"], user, fails=True)
        assert failed.returncode == 1 and f"No module named '{name}'" in failed.stderr
    # pip's view: the wheel's requirements are met by the dependencies the venv sees
    assert not [line for line in _run([sys.executable, "-m", "pip", "--python", python, "check"], user).stdout
                .splitlines() if line.lower().startswith("gpufleet ")]
    site_before = _state(site)

    assert _ok(_run([gpufleet, "--version"], user)) == [f"gpufleet {VERSION}"]
    plan = _ok(_run([gpufleet, "plan", "dev"], user))
    assert plan[0] == header and plan[1].startswith("gpufleet plan: stack dev (")
    policy = _ok(_run([gpufleet, "policy", "dev"], user))
    assert policy[0] == header
    assert any(line.startswith(f"Policy pack gpufleet: {len(POLICIES)} rules: ") for line in policy), policy
    replicate = _ok(_run([gpufleet, "replicate", "staging", "staging-west", "--region", "us-west-2", "--offline"], user))
    assert replicate[0] == header and (user / STACK_FOLDER / "Pulumi.staging-west.yaml").is_file()
    init = _ok(_run([gpufleet, "init", "research-dev", "--region", "eu-west-1"], user))  # it plans the new stack
    assert init[0] == header and any(line.startswith("plan of research-dev: ") for line in init), init
    assert (user / STACK_FOLDER / "Pulumi.research-dev.yaml").read_text().startswith(
        "# research-dev: a dev stack written by `gpufleet init`")
    assert {p.name for p in (user / "policies").iterdir()} == {"config", "PulumiPolicy.yaml", "__main__.py",
                                                                "requirements.txt"}
    assert f"gpufleet=={VERSION}" in (user / "policies" / "requirements.txt").read_text().splitlines()
    check = _ok(_run([gpufleet, "check", "dev", "staging-west", "research-dev"], user))
    assert check[0] == header and "3 stack(s): 3 passed, 0 failed; exit 0" in check, check
    # the pack init wrote, as pulumi starts it, on the installed gpufleet
    assert served_policies(str(python), user / "policies") == ("gpufleet", {p.name for p in POLICIES})

    assert _state(site) == site_before, "a command wrote into site-packages"
    assert _checkout_state() == checkout_before, "the build or a command wrote into the checkout"
