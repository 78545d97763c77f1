"""The exit codes of every ``gpufleet`` command, defined once (the CLI's ``--help`` and the
README list them from here), and which code an error ends a command with."""

from __future__ import annotations

import socket

OK = 0
#: a mandatory policy violation, a blocked replacement, a failed check: the input is fine, the verdict is no
POLICY = 1
#: a bad stack, fleet or plan file (unreadable, not UTF-8, invalid YAML, a value not allowed) or bad usage
BAD_INPUT = 2
#: an external service failed or could not be reached (AWS: credentials, an API; the pulumi CLI), or the
#: disk failed a write (full, over quota: :mod:`gpufleet.atomic_file`); the input is not the problem
EXTERNAL = 3
#: an internal error: a bug in gpufleet (report it; GPUFLEET_DEBUG=1 prints the traceback)
INTERNAL = 4

MEANING = {
    OK: "success",
    POLICY: "a policy violation or a failed check (a mandatory policy, a blocked replacement, a preflight check)",
    BAD_INPUT: "bad input or usage (a stack, fleet or plan file that cannot be read or is not valid; a bad option)",
    EXTERNAL: "an external service failed (AWS credentials or an AWS API; the pulumi CLI), or the disk (full)",
    INTERNAL: "an internal error (a bug in gpufleet: please report it; GPUFLEET_DEBUG=1 shows the traceback)",
}

EPILOG = "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in MEANING.items())


class BadInputError(Exception):
    """A user error the command reports in one line: exit 2."""


class ExternalServiceError(Exception):
    """An external service (AWS, the pulumi CLI) failed: one line, exit 3."""


def classify(exc: BaseException) -> int:
    """The exit code an exception that reached the top of a command ends it with."""
    from gpufleet.modules.clock import ClockError
    from gpufleet.modules.config import ConfigError

    if isinstance(exc, ExternalServiceError):
        return EXTERNAL
    if isinstance(exc, (ConfigError, BadInputError, ClockError, UnicodeError)):
        return BAD_INPUT
    module = type(exc).__module__ or ""
    if module.split(".")[0] in ("botocore", "boto3", "s3transfer", "urllib3") or module.startswith("pulumi.automation"):
        return EXTERNAL
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return EXTERNAL
    if isinstance(exc, OSError):  # a file that cannot be read or written
        return BAD_INPUT
    return INTERNAL
