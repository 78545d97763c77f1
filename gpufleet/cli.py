"""gpufleet: offline plans, costs and policy verdicts for the gpufleet EKS platform.

Exit codes (defined once in :mod:`gpufleet.exit_codes`, listed by ``--help``): 0 success,
1 a policy violation or a failed check, 2 bad input or usage, 3 an external service
failed, 4 an internal error (a bug). Every error is one line on stderr, never a traceback
(``GPUFLEET_DEBUG=1`` adds it for an internal error).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import pkgutil
import sys
import traceback
from typing import Sequence

from modules.config import ConfigError

from . import commands, exit_codes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gpufleet", description=__doc__.splitlines()[0], epilog=exit_codes.EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    for command in sub.choices.values():
        if command.epilog is None:
            command.epilog = exit_codes.EPILOG
            if command.formatter_class is argparse.HelpFormatter:
                command.formatter_class = argparse.RawDescriptionHelpFormatter
    return p


def message(exc: BaseException, code: int) -> str:
    """The one line an error that reached the top of a command is reported as."""
    if isinstance(exc, ConfigError):
        return str(exc)
    if code == exit_codes.INTERNAL:
        text = f"internal error (a bug in gpufleet, please report it; GPUFLEET_DEBUG=1 shows the traceback): " \
               f"{type(exc).__name__}: {exc}"
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
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - every error ends a command with one line and its exit code
        code = exit_codes.classify(exc)
        print(f"error: {message(exc, code)}", file=sys.stderr)
        if code == exit_codes.INTERNAL and os.environ.get("GPUFLEET_DEBUG"):
            traceback.print_exc()
        return code


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
