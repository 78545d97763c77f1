"""Issue #11, section 2: a catalogue of hostile inputs, kept as regression tests
(``tests/test_hostile_inputs_*.py``); this module holds the stack-file catalogue and the shared
helpers.

Every case gives exit 2 and exactly one line on stderr that names the file, the key path
(or line), the value given and what is allowed, in under 2 s, without a traceback, through
the real CLI entry (``gpufleet.cli.main``) of every command that reads the file, and through
the function that reads it. The YAML cases run with both parsers (libyaml and pure Python).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from gpufleet import cli
from gpufleet.modules import user_files

from .helpers import stack_path

DEV = stack_path("dev").read_text()
CONFIG_LINE = DEV.splitlines().index("config:") + 1  # 1-based line of `config:` in the dev stack
LOADERS = ["libyaml", "python"]
#: a hang guard, not a speed target (that is benchmarks/hostile.py: every case under 2 s)
SECONDS = 30.0


def inserted(extra: str) -> str:
    """The dev stack with ``extra`` (lines indented under ``config:``) right after ``config:``."""
    head, _, tail = DEV.partition("config:\n")
    return head + "config:\n" + extra + tail


def line(k: int) -> str:
    """``line N`` of the k-th (0-based) line inserted by :func:`inserted`."""
    return f"line {CONFIG_LINE + 1 + k}"


def billion_laughs(levels: int = 9) -> str:
    text = "  gpufleet:lol:\n    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, levels + 1):
        text += f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n"
    return text


@dataclass(frozen=True)
class Case:
    id: str
    #: the stack file's content (text or bytes), or a function that creates ``path``
    content: str | bytes | Callable[[Path], None]
    key_path: str
    fragments: tuple[str, ...]
    #: a YAML-level check: run it with both parsers
    yaml: bool = False


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def sparse_file(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with open(path, "wb") as fh:
            fh.truncate(size)
    return make


def make_directory(path: Path) -> None:
    path.mkdir()


STACK_CASES = [
    # -- bounded work: alias bombs, sizes, nesting
    Case("billion-laughs", inserted(billion_laughs()), line(4),
         ("got aliases that expand it to more than 10,000 values", "expected a stack file of at most 10,000 values"), True),
    Case("quadratic-aliases", inserted("  gpufleet:tags:\n    a: &a [" + ", ".join(["x"] * 3000) + "]\n    b: ["
                                       + ", ".join(["*a"] * 3000) + "]\n"), line(2),
         ("aliases that expand it to more than 10,000 values", "anchored at line"), True),
    Case("recursive-alias", inserted("  gpufleet:tags: &t\n    team: [*t]\n"), line(1),
         ("got an alias to a value that contains it", "expected a value that does not contain itself"), True),
    Case("alias-before-anchor", inserted("  gpufleet:tags: *nothing\n"), line(0),
         ("got the alias *nothing before any anchor &nothing", "expected an alias after its anchor"), True),
    Case("too-many-values", inserted("  gpufleet:tags: [" + ", ".join(["1"] * 10_001) + "]\n"), line(0),
         ("got more than 10,000 values", "expected a stack file of at most 10,000 values"), True),
    Case("nested-too-deep", inserted("  gpufleet:tags: " + "[" * 100 + "]" * 100 + "\n"), line(0),
         ("got values nested more than 64 levels deep", "expected a stack file nested at most 64 levels"), True),
    Case("nested-past-libyaml-limit", inserted("  gpufleet:tags: " + "[" * 5000 + "]" * 5000 + "\n"), line(0),
         ("nested more than 64 levels deep",), True),
    Case("larger-than-1-MiB", sparse_file(50 << 20), "(file)",
         ("got a file of 52,428,800 bytes", "expected a stack file of at most 1 MiB (1,048,576 bytes)")),
    Case("huge-integer", inserted("  gpufleet:tags: {team: " + "9" * 5000 + "}\n"), line(0),
         ("got an integer of 5,000 characters", "expected a number of at most 100 digits"), True),
    # -- files that are not text or not files
    Case("not-utf-8", DEV.encode().replace(b"config:\n", b"config:\n  gpufleet:tags: {team: caf\xe9}\n", 1),
         line(0), ("got a byte that is not UTF-8 (0xe9 at column 28)", "expected a stack file in UTF-8 text")),
    Case("utf-16", DEV.encode("utf-16"), "line 1", ("got a byte that is not UTF-8 (0xff at column 1)",)),
    Case("control-character", inserted("  gpufleet:tags: {team: a\x00b}\n"), line(0),
         ("got the control character U+0000", "expected printable text (valid YAML)"), True),
    Case("directory", make_directory, "(file)", ("got a directory", "not a directory")),
    Case("fifo", make_fifo, "(file)", ("got a special file (a device, pipe or socket)",)),
    # -- YAML that Pulumi reads differently or refuses
    Case("duplicate-top-level-key", inserted("  gpufleet:pools: {}\n  gpufleet:pools: {}\n"), line(1),
         (f"got duplicate key 'gpufleet:pools' (first at {line(0)})", "expected each key once"), True),
    Case("duplicate-nested-key", inserted("  gpufleet:pools:\n    system:\n      max: 4\n      max: 5\n"), line(3),
         (f"got duplicate key 'gpufleet:pools.system.max' (first at {line(2)})", "expected each key once"), True),
    Case("duplicate-key-in-a-list-item", inserted("  gpufleet:pools:\n    gpu:\n      - {name: a, max: 1, max: 2}\n"),
         line(2), ("got duplicate key 'gpufleet:pools.gpu[0].max' (first at", "expected each key once"), True),
    Case("duplicate-key-quoted", inserted("  gpufleet:tags:\n    team: a\n    'team': b\n"), line(2),
         ("got duplicate key 'gpufleet:tags.team'",), True),
    Case("duplicate-config", DEV + "config: {}\n", f"line {DEV.count(chr(10)) + 1}",
         ("got duplicate key 'config' (first at line",), True),
    Case("two-documents", DEV + "---\nconfig: {}\n", f"line {DEV.count(chr(10)) + 1}",
         ("got a second YAML document (after ---)", "expected a stack file of one document"), True),
    Case("binary-tag", inserted("  gpufleet:tags: {team: !!binary aGVsbG8=}\n"), line(0),
         ("got the YAML tag !!binary", "expected plain YAML values"), True),
    Case("python-tag", inserted("  gpufleet:tags: !!python/object/apply:os.system ['true']\n"), line(0),
         ("got the YAML tag !!python/object/apply:os.system",), True),
    Case("set-tag", inserted("  gpufleet:tags: !!set {a, b}\n"), line(0), ("got the YAML tag !!set",), True),
    Case("local-tag", inserted("  gpufleet:tags: !mine x\n"), line(0), ("got the YAML tag !mine",), True),
    Case("list-as-key", inserted("  ? [a, b]\n  : c\n"), line(0),
         ("got a list or mapping used as a key", "expected a plain key (a name)"), True),
    Case("syntax-error", inserted("  gpufleet:tags: [a\n  x: }\n"), line(1), ("got invalid YAML: ", "expected valid YAML"), True),
    Case("empty-file", "", "config", ("got nothing (the key is missing)", "expected a mapping under the top-level key 'config'")),
    Case("config-is-a-list", "config: [a, b]\n", "config", ('got ["a", "b"]', "expected a mapping under")),
    Case("unknown-top-level-key", DEV + "secretprovider: passphrase\n", "secretprovider",
         ("got unknown top-level key 'secretprovider'", "expected a top-level key of a Pulumi stack file: config, "
          "secretsprovider", "(did you mean 'secretsprovider'?)")),
    # -- keys outside gpufleet:
    Case("namespace-typo", inserted("  gpufleett:budget: 5\n"), "gpufleett:budget",
         ("got unknown key 'gpufleett:budget'", "expected a key in a namespace this stack's program reads",
          "(did you mean 'gpufleet:cost.budget_usd'?)")),
    Case("aws-key-typo", inserted("  aws:regoin: us-west-2\n"), "aws:regoin",
         ("got unknown key 'aws:regoin'", "expected a configuration key of the aws provider", "(did you mean 'aws:region'?)")),
    Case("dot-for-colon", inserted("  gpufleet.storage: {checkpoints: {iops: 6000}}\n"), "gpufleet.storage",
         ("got unknown key 'gpufleet.storage'", "(did you mean 'gpufleet:storage'?)")),
    Case("region-in-gpufleet", inserted("  gpufleet:region: us-west-2\n"), "gpufleet:region",
         ("got unknown key 'gpufleet:region'", "(did you mean 'aws:region'?)")),
    Case("kubernetes-key-typo", inserted("  kubernetes:contxt: admin\n"), "kubernetes:contxt",
         ("got unknown key 'kubernetes:contxt'", "the kubernetes provider", "(did you mean 'kubernetes:context'?)")),
    Case("pulumi-key-typo", inserted("  pulumi:disable-default-provider: [aws]\n"), "pulumi:disable-default-provider",
         ("expected a key the Pulumi engine reads", "(did you mean 'pulumi:disable-default-providers'?)")),
    Case("key-that-is-not-a-string", inserted("  1: x\n"), "1", ("got unknown key '1'",)),
    Case("key-with-a-newline", inserted('  "gpufleet:tags\\nx": 1\n'), "gpufleet:tags\\nx", ("got unknown key 'gpufleet:tags\\nx'",)),
]


def write_case(directory: Path, case: Case) -> Path:
    path = directory / "Pulumi.dev-hostile.yaml"
    if callable(case.content):
        case.content(path)
    elif isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str, float]:
    start = time.perf_counter()
    code = cli.main(list(argv))
    seconds = time.perf_counter() - start
    out, err = capsys.readouterr()
    return code, out, err, seconds


def assert_one_line(result: tuple[int, str, str, float], source: str, key_path: str, fragments: tuple[str, ...]) -> None:
    code, out, err, seconds = result
    assert code == 2, err
    assert out == "", out[:300]
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.endswith("\n"), err[:2000]
    assert err.startswith(f"error: {source}: {key_path}: got "), err
    assert "; expected " in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert seconds < SECONDS, f"{seconds:.2f}s"


def assert_message(exc: BaseException, source: str, key_path: str, fragments: tuple[str, ...]) -> None:
    message = str(exc)
    assert "\n" not in message, message
    assert message.startswith(f"{source}: {key_path}: got "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.fixture(params=LOADERS)
def loader(request, monkeypatch):
    if request.param not in user_files._LOADERS:
        pytest.skip("PyYAML was built without libyaml")
    # the reader's own default (modules/user_files.parse_yaml reads it at each call), not a
    # copy another module imported
    monkeypatch.setattr(user_files, "YAML_LOADER", request.param)
    return request.param


@pytest.fixture
def never_render(monkeypatch):
    """A hostile file must stop before any resource is declared."""
    from gpufleet import engine

    monkeypatch.setattr(engine, "install", lambda *a, **k: pytest.fail("declared resources for a bad stack"))
