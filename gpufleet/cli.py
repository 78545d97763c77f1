"""gpufleet: offline plans, costs and policy verdicts for the gpufleet EKS platform.

Exit codes: 0 success, 1 a mandatory policy violation (or a failed check), 2 a bad stack
file or bad usage.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import pkgutil
import sys
from typing import Sequence

from modules.config import ConfigError

from . import commands


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gpufleet", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


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
