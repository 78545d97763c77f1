"""Issue 18, section 3: no file content is echoed into an error. A stack file that is a symlink
to a token file (a CI runner's credentials, a ``.env``) must not print the token: not with
``plan``, ``cost`` or ``policy``, not in any ``check --format`` (text, json, markdown, sarif: a
PR comment and a code-scanning alert are public). Messages show the key path and the kind of
value, and at most a short quoted excerpt (20 characters, "..." included) of a value that came
from the file (:data:`gpufleet.modules.config_errors.EXCERPT`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from gpufleet.modules import config as stack_config
from gpufleet.modules import user_files
from gpufleet.modules.config_errors import EXCERPT, ConfigError, Verbatim

from .check_support import project_copy, run
from .helpers import STACK_FOLDER, TEST_SOURCE, raw_config

#: a GitHub token: the first characters are as public as its format, the rest is the secret
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
CHECK_FORMATS = ("text", "json", "markdown", "sarif")


def leaked(text: str, secret: str = TOKEN) -> bool:
    """Whether ``text`` shows more of ``secret`` than an excerpt does (its first EXCERPT - 3
    characters): any run of EXCERPT - 2 of its characters."""
    n = EXCERPT - 2
    return any(secret[i:i + n] in text for i in range(len(secret) - n + 1))


def dev_with(**edits) -> str:
    raw = raw_config("dev")
    raw.update(edits)
    return yaml.safe_dump({"config": raw}, sort_keys=False)


#: (id, the token file's content); each is what a stack file that links to it reads
TOKEN_FILES = [
    ("bare-token", f"{TOKEN}\n"),
    ("env-file", f"GITHUB_TOKEN={TOKEN}\nAWS_PROFILE=ci\n"),
    ("git-credentials", f"https://ci-bot:{TOKEN}@github.com\n"),
    ("token-list", f"- {TOKEN}\n"),
    ("token-as-config", f"config: {TOKEN}\n"),
    ("token-as-top-level-key", f"{TOKEN}: 1\n"),
    ("token-as-config-key", f"config:\n  {TOKEN}: 1\n"),
    ("token-as-a-mapping", dev_with(**{"gpufleet:teams": {"token": TOKEN}})),
    ("token-as-a-value", dev_with(**{"aws:region": TOKEN})),
    ("token-as-a-list-value", dev_with(**{"gpufleet:cost": {**raw_config("dev")["gpufleet:cost"], "emails": [TOKEN]}})),
    ("pem-key", "-----BEGIN OPENSSH PRIVATE KEY-----\n" + TOKEN * 2 + "\n-----END OPENSSH PRIVATE KEY-----\n"),
]
#: names the YAML reader's own messages show (anchors, aliases, tags, keys): an excerpt each
#: (modules/parse_problems.py), with the kind of name and the line and column
YAML_SNIPPETS = [
    ("token-as-an-alias", f"config: *{TOKEN}\n"),
    ("token-as-a-tag", f"config: !{TOKEN} x\n"),
    ("token-after-a-python-tag", f"config: !!python/name:{TOKEN} x\n"),
    ("token-as-a-duplicate-key", f"config:\n  {TOKEN}: 1\n  {TOKEN}: 2\n"),
    ("token-as-a-bomb-anchor", f"a: &{TOKEN} [{', '.join(['1'] * 200)}]\n"
                               + "".join(f"b{i}: [{', '.join([f'*{TOKEN}'] * 10)}]\n" for i in range(6))),
]
CASES = [pytest.param(*c, id=c[0]) for c in TOKEN_FILES + YAML_SNIPPETS]


@pytest.fixture
def linked(tmp_path):
    """A project whose stack ``leak-dev`` is a symlink to a token file outside it."""
    root = project_copy(tmp_path)

    def make(content: str) -> Path:
        secret = tmp_path / "secrets" / "token"
        secret.parent.mkdir(exist_ok=True)
        secret.write_text(content)
        link = root / STACK_FOLDER / "Pulumi.leak-dev.yaml"
        link.symlink_to(secret)
        return root
    return make


@pytest.mark.parametrize("case, content", CASES)
@pytest.mark.parametrize("command", [["plan"], ["plan", "--json"], ["cost"], ["policy"], ["graph"]])
def test_a_command_never_prints_the_token(linked, capsys, case, content, command):
    root = linked(content)
    code, out, err = run(capsys, "-C", str(root), *command[:1], "leak-dev", *command[1:])
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), (code, err)
    assert not leaked(out + err), err


@pytest.mark.parametrize("case, content", CASES)
@pytest.mark.parametrize("fmt", CHECK_FORMATS)
def test_check_never_prints_the_token_in_any_format(linked, capsys, case, content, fmt):
    root = linked(content)
    code, out, err = run(capsys, "-C", str(root), "check", "leak-dev", "--format", fmt)
    assert code == 2, err
    assert not leaked(out + err), out
    if fmt in ("json", "sarif"):
        json.loads(out)


@pytest.mark.parametrize("loader", sorted(user_files._LOADERS))
@pytest.mark.parametrize("text, shown", [
    (f"config: *{TOKEN}\n", "line 1: got the alias *ghp_A1b2C3d4E5f6G... before any anchor &ghp_A1b2C3d4E5f6G... "
                            "(a name of 40 characters; column 9); expected an alias after its anchor"),
    (f"config: !{TOKEN} x\n", "line 1: got the YAML tag !ghp_A1b2C3d4E5f6G... (a tag of 41 characters; column 9); "
                              "expected plain YAML values"),
    ("config: !!python/object/apply:os.system x\n", "line 1: got the YAML tag !!python/object/apply:os.system "
                                                    "(column 9); expected plain YAML values"),
    (f"config:\n  {TOKEN}: 1\n  {TOKEN}: 2\n", "line 3: got duplicate key 'config.ghp_A1b2C3d4E5f6G...' "
                                              "(first at line 2); expected each key once"),
])
def test_the_yaml_reader_shows_an_excerpt_of_a_name_with_its_kind_line_and_column(loader, text, shown):
    with pytest.raises(ConfigError) as info:
        user_files.parse_yaml(text, "s.yaml", "stack file", loader=loader)
    assert str(info.value).startswith(f"s.yaml: {shown}"), str(info.value)
    assert not leaked(str(info.value))


@pytest.mark.parametrize("text, shown", [
    (f"config: *{TOKEN}\n", "line 1: got invalid YAML: found undefined alias 'ghp_A1b2C3d4E5f6G...' "
                            "(40 characters) (column 9)"),
    (f"config:\n  {TOKEN}: 1\n  {TOKEN}: 2\n", "line 3: got invalid YAML: found duplicate key "
                                              "\"ghp_A1b2C3d4E5f6G...\" (40 characters) (column 3)"),
    (f"config:\n  {TOKEN}:\n    <<: {{b: 1}}\n", "line 3: got a YAML merge key (<<) at ghp_A1b2C3d4E5f6G... "
                                               "(column 5)"),
])
def test_the_round_trip_reader_shows_an_excerpt_of_a_name(text, shown):
    from gpufleet.replicate_yaml import load_document

    with pytest.raises(ConfigError) as info:
        load_document(text, "s.yaml")
    assert str(info.value).startswith(f"s.yaml: {shown}"), str(info.value)
    assert not leaked(str(info.value))


def test_the_round_trip_reader_prints_no_warning_that_quotes_the_file(recwarn, capsys):
    """ruamel warns of a reused anchor with a snippet of the line (PyYAML's reader accepts one)."""
    from gpufleet.replicate_yaml import load_document

    text = f"config:\n  a: &{TOKEN} 1\n  b: &{TOKEN} 2\n"
    assert user_files.parse_yaml(text, "s.yaml", "stack file") == {"config": {"a": 1, "b": 2}}
    assert load_document(text, "s.yaml")["config"] == {"a": 1, "b": 2}
    out, err = capsys.readouterr()
    assert not leaked(out + err + " ".join(str(w.message) for w in recwarn.list))


def test_check_lists_every_format_tested():
    from gpufleet import cli

    check = cli.parser()._subparsers._group_actions[0].choices["check"]
    [fmt] = [a for a in check._actions if a.dest == "format"]
    assert set(fmt.choices) == set(CHECK_FORMATS)


def test_diff_of_a_plan_file_that_is_a_token_never_prints_it(tmp_path, capsys):
    secret = tmp_path / "credentials.json"
    secret.write_text(json.dumps({"token": TOKEN, "resources": {"access_key": TOKEN}}))
    code, out, err = run(capsys, "diff", str(secret), str(secret))
    assert code == 2 and err.count("\n") == 1 and not leaked(out + err), err


# ---------------------------------------------------------------- the message itself

def test_a_long_string_shows_an_excerpt_and_its_kind():
    message = str(ConfigError(TEST_SOURCE, "aws:region", TOKEN, "an AWS region"))
    assert message == (f"{TEST_SOURCE}: aws:region: got 'ghp_A1b2C3d4E5f6G...' (a string of 40 characters); "
                       "expected an AWS region")
    quoted = message.split("got ", 1)[1].split("'")[1]
    assert len(quoted) == EXCERPT and quoted.endswith("...")


@pytest.mark.parametrize("given, shown", [
    ("us-east-1", "'us-east-1'"),                                  # short values are shown whole
    ("x" * EXCERPT, repr("x" * EXCERPT)),
    ("x" * (EXCERPT + 1), f"'{'x' * (EXCERPT - 3)}...' (a string of {EXCERPT + 1} characters)"),
    ([TOKEN], "[\"ghp_A1b2C3d4E5f6G...\"] (a list of 1 item)"),
    ({"token": TOKEN, "n": 2}, "{\"token\": \"ghp_A1b2C3d4E5f6G...\", \"n\": 2} (a mapping of 2 keys)"),
    ({TOKEN: 1}, "{\"ghp_A1b2C3d4E5f6G...\": 1} (a mapping of 1 key)"),
    (10 ** 40, f"{str(10 ** 40)[:EXCERPT - 3]}... (an integer)"),
    (-7, "-7"),
    (Verbatim("a-stack-name-of-thirty-chars-x"), "'a-stack-name-of-thirty-chars-x'"),  # not file content
])
def test_what_a_message_shows_of_a_value(given, shown):
    assert str(ConfigError("f", "k", given, "e")) == f"f: k: got {shown}; expected e"


def test_a_validation_error_quotes_only_an_excerpt(tmp_path):
    path = tmp_path / "Pulumi.leak-dev.yaml"
    path.write_text(dev_with(**{"aws:region": TOKEN}))
    with pytest.raises(ConfigError) as info:
        stack_config.from_file(path, TEST_SOURCE)
    assert str(info.value).startswith(f"{TEST_SOURCE}: aws:region: got 'ghp_A1b2C3d4E5f6G...' "
                                      "(a string of 40 characters); expected ")


def _yaml_error() -> Exception:
    try:
        yaml.safe_load(f"key: {TOKEN}: b\n")
    except yaml.YAMLError as exc:
        assert leaked(str(exc))  # PyYAML quotes the line
        return exc
    raise AssertionError("no YAML error")


def _pydantic_error() -> Exception:
    from pydantic import BaseModel, ValidationError

    class Model(BaseModel):
        n: int

    try:
        Model.model_validate({"n": TOKEN})
    except ValidationError as exc:
        assert TOKEN in str(exc)  # pydantic quotes the input
        return exc
    raise AssertionError("no validation error")


@pytest.mark.parametrize("error", [_yaml_error, _pydantic_error], ids=["yaml", "pydantic"])
def test_an_unexpected_error_quoting_the_file_is_reported_without_it(linked, capsys, monkeypatch, error):
    """A bug that lets a library's exception through (exit 4) still shows no file content."""
    root = linked(dev_with())
    exc = error()

    def boom(*_args, **_kwargs):
        raise exc
    monkeypatch.setattr(stack_config, "from_file", boom)
    code, out, err = run(capsys, "-C", str(root), "plan", "leak-dev")
    assert code == 4 and err.count("\n") == 1 and "internal error" in err and not leaked(err), err
    for fmt in CHECK_FORMATS:
        code, out, err = run(capsys, "-C", str(root), "check", "leak-dev", "--format", fmt)
        assert code == 4 and "internal error" in out and not leaked(out + err), out
