"""gpufleet: offline plans, costs and policy verdicts for the gpufleet EKS platform.

Every command acts on the Pulumi project of the current directory (the nearest
``Pulumi.yaml`` at or above it, like ``pulumi``; ``-C DIR`` runs as if started in DIR) and
names it in the first line of its output (:mod:`gpufleet.project`).

Exit codes (defined once in :mod:`gpufleet.exit_codes`, listed by ``--help``): 0 success,
1 a policy violation or a failed check, 2 bad input or usage, 3 an external service
failed, 4 an internal error (a bug). Every error is one line on stderr, never a traceback
(``GPUFLEET_DEBUG=1`` adds it for an internal error). Each command's ``--help`` ends with
its exit codes and an example.

Shell completion of stack names: ``eval "$(register-python-argcomplete gpufleet)"`` (bash,
zsh) with ``argcomplete`` installed.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import os
import pkgutil
import sys
import traceback
from typing import Sequence

from gpufleet.modules import clock
from gpufleet.modules.config import ConfigError

from . import commands, exit_codes
from .project import stack_names

#: Positional arguments that name a stack: completed with the project's stack names.
STACK_ARGUMENTS = ("stack", "stacks", "source")  # diff's base/head also take plan files: the shell's own
TOP_EXAMPLES = (("gpufleet plan dev", "plan stack dev of the project in this directory (or above it)"),
                ("gpufleet -C ~/src/infra cost prod", "the cost of stack prod of the project in ~/src/infra"))


def version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        return dist_version("gpufleet")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
        return "unknown (not installed)"


def epilog(examples: Sequence[tuple[str, str]]) -> str:
    """A command's --help ending: one example (or a few) and the exit codes."""
    lines = ["example:" if len(examples) == 1 else "examples:"]
    for command, what in examples:
        lines += [f"  {command}", f"      {what}"]
    return "\n".join(lines) + "\n\n" + exit_codes.EPILOG


def _finish(p: argparse.ArgumentParser, examples: Sequence[tuple[str, str]]) -> None:
    """Exit codes and examples in ``p``'s --help; stack arguments complete stack names."""
    if p.epilog is None:
        p.epilog = epilog(examples) if examples else exit_codes.EPILOG
        if p.formatter_class is argparse.HelpFormatter:
            p.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in p._actions:
        if not action.option_strings and action.dest in STACK_ARGUMENTS:
            action.completer = stack_names  # type: ignore[attr-defined] - argcomplete reads it


def parser() -> argparse.ArgumentParser:
    """gpufleet's argument parser (built once per process: parsing never changes it)."""
    return _parser()


@functools.cache
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gpufleet", description=__doc__.splitlines()[0],
                                epilog=epilog(TOP_EXAMPLES), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-C", "--cwd", metavar="DIR", default=None,
                   help="run as if gpufleet was started in DIR: its project is the nearest Pulumi.yaml at or "
                        "above DIR (default: the current directory)")
    p.add_argument("--version", action="version", version=f"gpufleet {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        before = set(sub.choices)
        module.register(sub)
        for name in set(sub.choices) - before:
            command = sub.choices[name]
            _finish(command, getattr(module, "EXAMPLES", ()))  # each command module's own
            for action in command._actions:  # sub-actions (fleet plan|preview|up)
                if isinstance(action, argparse._SubParsersAction):
                    for action_name, child in action.choices.items():
                        _finish(child, getattr(module, "ACTION_EXAMPLES", {}).get(action_name, ()))
    return p


def _current(func):
    """A command's function as its module has it now (the parser, built once, holds the one it
    saw then: a module's ``run`` replaced since, by a test, is the one that runs)."""
    module = sys.modules.get(getattr(func, "__module__", ""), None)
    return getattr(module, getattr(func, "__name__", ""), func) if module is not None else func


def _complete(p: argparse.ArgumentParser) -> None:
    """Shell completion when the shell asks for it (``argcomplete`` installed; a no-op otherwise)."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:  # pragma: no cover - completion is optional
        return
    argcomplete.autocomplete(p)


def _without_content(exc: BaseException) -> str:
    """An unexpected exception's text, without the file content some libraries quote: a YAML
    parser's error shows the offending line (``problem`` and its position are kept), pydantic's
    the values it was given (the count and the first error's location are kept)."""
    module = type(exc).__module__ or ""
    if module.split(".")[0] in ("yaml", "ruamel"):
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return f"{getattr(exc, 'problem', None) or 'a YAML error'}{where}"
    if module.startswith("pydantic"):
        errors = exc.errors() if hasattr(exc, "errors") else []
        first = ".".join(str(p) for p in errors[0].get("loc", ())) if errors else ""
        return f"{len(errors)} validation error(s)" + (f", the first at {first}" if first else "")
    return str(exc)


def message(exc: BaseException, code: int) -> str:
    """The one line an error that reached the top of a command is reported as."""
    if isinstance(exc, ConfigError):
        return str(exc)
    if code == exit_codes.INTERNAL:
        text = f"internal error (a bug in gpufleet, please report it; GPUFLEET_DEBUG=1 shows the traceback): " \
               f"{type(exc).__name__}: {_without_content(exc)}"
    elif isinstance(exc, OSError) and exc.filename is not None and not type(exc).__module__.startswith("botocore"):
        text = f"{exc.filename}: {exc.strerror or exc}"
    elif isinstance(exc, UnicodeDecodeError):
        text = f"cannot read text as {exc.encoding} (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    elif code == exit_codes.EXTERNAL and not isinstance(exc, exit_codes.ExternalServiceError):
        text = f"an external service failed: {type(exc).__name__}: {exc}"
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 600 else text[:597] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    _complete(p)
    args = p.parse_args(argv)
    start = os.getcwd()
    try:
        if args.cwd is not None:
            if not os.path.isdir(args.cwd):
                raise exit_codes.BadInputError(f"-C {args.cwd}: no such directory")
            os.chdir(args.cwd)  # like pulumi -C / git -C: relative paths and the project are DIR's
        clock.today()  # a GPUFLEET_TODAY that is not a date ends the command before it starts (exit 2)
        return _current(args.func)(args)
    except Exception as exc:  # noqa: BLE001 - every error ends a command with one line and its exit code
        code = exit_codes.classify(exc)
        print(f"error: {message(exc, code)}", file=sys.stderr)
        if code == exit_codes.INTERNAL and os.environ.get("GPUFLEET_DEBUG"):
            traceback.print_exc()
        return code
    finally:
        os.chdir(start)


def entry() -> None:
    """Console-script entry point for a short-lived process.

    The cyclic garbage collector is off (importing the provider SDKs and registering a few
    hundred resources creates millions of objects and almost no garbage cycles: collecting
    them cost ~30 % of a plan), and the process ends without tearing the module graph down.
    """
    gc.disable()
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
