"""``.github/CODEOWNERS`` gives the platform team what the code says the platform team owns.

Issue #11: the per-environment ceilings belong to the policy pack's config per environment,
owned by the platform team (CODEOWNERS-style), not to the stack file. The code says so in
``modules/environments.py``, ``modules/checks/ceilings.py`` and the ceilings file's own
``source``; this checks that the file they cite exists and that its rules (GitHub's
matching: gitignore-style patterns, the last matching pattern wins) give every such file
to the platform team.
"""

from __future__ import annotations

import json
import re

import pytest

from .helpers import ROOT

CODEOWNERS = ROOT / ".github" / "CODEOWNERS"
PLATFORM = "@gpufleet/platform"
CEILINGS = "modules/data/environment_ceilings.json"

#: what the code says the platform team owns: the ceilings, the policy pack's rules and
#: its config per stack (a file or a folder, relative to the repository root)
PLATFORM_OWNED = (CEILINGS, "policies/gpufleet_policies/", "policies/config/")


# ------------------------------------------------------------------ GitHub's CODEOWNERS matching

def _glob(body: str) -> str:
    """A gitignore glob (no ``[]`` classes, no ``!``: CODEOWNERS has neither) as a regex."""
    out, i = [], 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("/**", i) and i + 3 == len(body):
            out.append("/.*")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    return "".join(out)


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The files (paths relative to the root, no leading ``/``) a CODEOWNERS pattern matches.

    - a leading ``/``, or a ``/`` inside the pattern, anchors it at the repository root;
      otherwise it matches at any depth (``apps/``, ``*.js``);
    - a trailing ``/`` matches a directory: every file under it, at any depth;
    - a pattern without one matches that file, or that directory and everything under it
      (``/apps/github``, ``**/logs``), unless its last segment has a wildcard: ``docs/*``
      matches ``docs/a.md`` but not ``docs/build/b.md`` (GitHub's documented exception).
    """
    directory = pattern.endswith("/")
    body = pattern.strip("/")
    anchored = pattern.startswith("/") or "/" in body
    last = body.rsplit("/", 1)[-1]
    if directory:
        tail = "/.+"
    elif "*" in last or "?" in last:
        tail = ""
    else:
        tail = "(?:/.+)?"
    return re.compile(("" if anchored else "(?:.*/)?") + _glob(body) + tail)


def parse(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """(pattern, owners) of every rule, in file order."""
    rules = []
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*", "", line).strip()  # full-line and trailing comments
        if not line:
            continue
        pattern, *owners = line.split()
        rules.append((pattern, tuple(owners)))
    return rules


def owners_of(path: str, rules: list[tuple[str, tuple[str, ...]]]) -> tuple[str | None, tuple[str, ...]]:
    """The last rule matching ``path`` (its pattern and owners), or (None, ()) when none does."""
    found: tuple[str | None, tuple[str, ...]] = (None, ())
    for pattern, owners in rules:
        if pattern_regex(pattern).fullmatch(path.lstrip("/")):
            found = (pattern, owners)
    return found


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    # docs.github.com, "About code owners", example file
    ("*", "any/file.txt", True),
    ("*.js", "src/deep/app.js", True),
    ("*.js", "src/deep/app.jsx", False),
    ("/build/logs/", "build/logs/a/b.log", True),
    ("/build/logs/", "src/build/logs/b.log", False),
    ("docs/*", "docs/getting-started.md", True),
    ("docs/*", "docs/build-app/troubleshooting.md", False),
    ("docs/*", "src/docs/x.md", False),
    ("apps/", "apps/x.py", True),
    ("apps/", "src/apps/deep/x.py", True),
    ("/docs/", "docs/x.md", True),
    ("/docs/", "src/docs/x.md", False),
    ("**/logs", "deeply/nested/logs/x.log", True),
    ("**/logs", "logs/x.log", True),
    ("/apps/github", "apps/github/x.rb", True),
    ("/apps/github", "apps/githubber/x.rb", False),
    ("/scripts/", "scripts/x.sh", True),
    ("/modules/data/environment_ceilings.json", "modules/data/environment_ceilings.json", True),
    ("/modules/data/environment_ceilings.json", "modules/data/environment_ceilings.json.bak", False),
])
def test_matching_follows_github(pattern, path, matches):
    assert bool(pattern_regex(pattern).fullmatch(path)) is matches


def test_the_last_matching_pattern_wins():
    rules = parse("# owners\n*  @everyone\n/apps/ @apps  # trailing comment\n/apps/github @octocat\n"
                  "/apps/github/vendor\n")
    assert owners_of("README.md", rules) == ("*", ("@everyone",))
    assert owners_of("apps/x.py", rules) == ("/apps/", ("@apps",))
    assert owners_of("apps/github/x.py", rules) == ("/apps/github", ("@octocat",))
    # a pattern without owners: the files it matches have none
    assert owners_of("apps/github/vendor/lib.rb", rules) == ("/apps/github/vendor", ())


# ------------------------------------------------------------------ the repository's CODEOWNERS

def rules() -> list[tuple[str, tuple[str, ...]]]:
    assert CODEOWNERS.is_file(), "the code cites .github/CODEOWNERS: it must exist"
    return parse(CODEOWNERS.read_text())


def files_of(entry: str) -> list[str]:
    """The files a PLATFORM_OWNED entry stands for: the file, or every file under the folder
    plus one a new stack would add (``policies/config/<new stack>.json``)."""
    path = ROOT / entry
    if not entry.endswith("/"):
        assert path.is_file(), entry
        return [entry]
    assert path.is_dir(), entry
    found = [p.relative_to(ROOT).as_posix() for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return [*found, f"{entry}a-new-stack.json"]


@pytest.mark.parametrize("entry", PLATFORM_OWNED)
def test_what_the_platform_team_owns_is_theirs(entry):
    parsed = rules()
    for path in files_of(entry):
        pattern, owners = owners_of(path, parsed)
        assert pattern is not None, f"no CODEOWNERS rule matches {path}"
        assert owners == (PLATFORM,), f"{path}: {pattern} gives it to {owners or 'nobody'}, not {PLATFORM}"


def test_the_code_cites_the_codeowners_file():
    """The ceilings file's source and the modules that say who owns it cite this file and
    the team; every path the ceilings' citation gives to the platform team is theirs."""
    parsed = rules()
    source = json.loads((ROOT / CEILINGS).read_text())["source"]
    citation = re.search(r"\.github/CODEOWNERS gives (.*?) to the platform team, (@[\w-]+/[\w-]+)", source)
    assert citation, source
    assert citation.group(2) == PLATFORM
    cited = re.findall(r"/[\w./-]+", citation.group(1))
    assert CEILINGS in {c.lstrip("/") for c in cited}
    for c in cited:
        path = ROOT / c.lstrip("/")
        assert path.exists(), c
        sample = c.lstrip("/") + ("a-file" if c.endswith("/") else "")
        assert owners_of(sample, parsed)[1] == (PLATFORM,), c
    docstring = (ROOT / "modules" / "environments.py").read_text()
    assert ".github/CODEOWNERS" in docstring and PLATFORM in docstring


def test_every_rule_names_the_repository_and_an_owner():
    for pattern, owners in rules():
        assert owners and all(re.fullmatch(r"@[\w-]+(/[\w-]+)?|[^@\s]+@[^@\s]+", o) for o in owners), pattern
        if not any(ch in pattern for ch in "*?"):
            assert (ROOT / pattern.strip("/")).exists(), f"{pattern} names no path of the repository"

