"""``gpufleet fleet plan|preview|up``, the fleet file, and the cross-stack (StackReference) pattern."""
# ruff: noqa: F811  (pytest fixtures imported from test_preflight are redefined as test parameters)

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from pathlib import Path

import pulumi
import pytest
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult
from semver import VersionInfo

from gpufleet import fleet, fleet_deploy
from gpufleet.replicate import BadInput, replicate

from .conftest import shipped_plan
from .helpers import FIXTURE_FLEET, FIXTURE_ROOT, stack_path
from .test_preflight import run, stacks  # noqa: F401 (fixture)


def fleet_file(directory: Path, body: str) -> Path:
    path = directory / "fleet.yaml"
    path.write_text(body)
    return path


# ---------------------------------------------------------------- the fleet file

def test_shipped_fleet_file_names_the_shipped_stacks():
    spec = fleet.load(FIXTURE_FLEET)
    assert [(c.stack, c.region, c.role) for c in spec.clusters] == [
        ("prod", "us-east-1", "primary"), ("staging", "us-east-1", "standalone"), ("dev", "us-east-1", "standalone")]
    assert all(c.path.is_file() for c in spec.clusters)


@pytest.mark.parametrize("body, message", [
    ("clusters:\n  - {stack: dev, region: us-east-1}\n  - {stack: nope, region: us-east-1}\n",
     "clusters[1].stack: got 'nope'; expected a stack with a file next to the fleet file ({dir}/Pulumi.nope.yaml does not exist)"),
    ("clusters:\n  - {stack: dev, region: us-west-2}\n",
     "clusters[0].region: got 'us-west-2'; expected the region {dir}/Pulumi.dev.yaml deploys to (aws:region us-east-1)"),
    ("clusters:\n  - {stack: dev, region: us-east-1}\n  - {stack: dev, region: us-east-1}\n",
     "clusters[1].stack: got 'dev'; expected each stack listed once (it is clusters[0] too)"),
    ("clusters:\n  - {stack: dev, region: us-east-1, role: primary}\n  - {stack: prod, region: us-east-1, role: primary}\n",
     "clusters: got 2 primaries (dev, prod); expected at most one cluster with role: primary"),
    ("clusters:\n  - {stack: dev, region: us-east-1, role: leader}\n", "clusters[0].role: got 'leader'; expected 'primary', 'replica' or 'standalone'"),
    ("global: {stack: global}\nclusters:\n  - {stack: dev, region: us-east-1}\n",
     "global.stack: got 'global'; expected a fully qualified stack name <organization>/<project>/<stack>"),
    ("clusters: []\n", "clusters: got []; expected a list of at least 1 item"),
    ("clusters:\n  - {stack: dev, region: us-east-1, size: 3}\n", "clusters[0].size: got unknown key 'size'; expected a key allowed here: stack, region, role"),
])
def test_bad_fleet_files_are_one_clear_error(stacks, capsys, body, message):
    path = fleet_file(stacks, body)
    code, out, err = run(capsys, "fleet", "plan", "--fleet", str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert message.format(dir=stacks) in err, err


def test_missing_fleet_file(tmp_path, capsys):
    code, _, err = run(capsys, "fleet", "plan", "--fleet", str(tmp_path / "fleet.yaml"))
    assert code == 2 and f"error: {tmp_path}/fleet.yaml: (file): got no such file; expected an existing fleet file" in err


# ---------------------------------------------------------------- fleet plan

def test_fleet_plan_in_process_summarises_each_cluster(stacks, capsys):
    replicate("dev", "dev-west", "us-west-2", directory=stacks, offline=True)
    path = fleet_file(stacks, "global: {stack: acme/gpufleet-global/global, outputs: [model_bucket_arn]}\n"
                              "clusters:\n  - {stack: dev, region: us-east-1, role: primary}\n"
                              "  - {stack: dev-west, region: us-west-2}\n")
    code, out, err = run(capsys, "fleet", "plan", "--fleet", str(path), "--jobs", "1")
    dev = shipped_plan("dev")
    assert code == (1 if dev.failed else 0)
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert out.splitlines()[-1] == "global stack acme/gpufleet-global/global (read through a StackReference): model_bucket_arn"
    assert rows["dev"][:4] == ["dev", "us-east-1", "primary", str(len(dev.resources))]
    assert rows["dev-west"][:4] == ["dev-west", "us-west-2", "replica", str(len(dev.resources))]
    idle, top = fleet.cost_figures({r.key: r.data for r in dev.reports}.get("cost"))
    assert rows["dev"][4] == ("-" if idle is None else f"${idle:,.0f}")
    assert rows["dev"][5] == ("-" if top is None else f"${top:,.0f}")
    # not a TTY: one plain progress line per cluster on stderr
    assert "fleet plan: [1/2] dev " in err and "fleet plan: [2/2] dev-west " in err and "\r" not in err


def test_fleet_plan_in_a_worker_process(stacks):
    # One cluster, so one worker: a fresh process (the mock runtime is per process) renders it.
    spec = fleet.load(fleet_file(stacks, "clusters:\n  - {stack: dev, region: us-east-1}\n"))
    [summary] = fleet.plan_fleet(spec, jobs=2)
    assert summary.error is None and summary.pid not in (0, os.getpid())
    dev = shipped_plan("dev")
    assert summary.resources == len(dev.resources)
    assert (summary.idle, summary.max) == fleet.cost_figures({r.key: r.data for r in dev.reports}.get("cost"))


def test_a_cluster_that_fails_to_render_is_a_row_not_a_crash(stacks):
    spec = fleet.load(fleet_file(stacks, "clusters:\n  - {stack: dev, region: us-east-1}\n"))
    (stacks / "Pulumi.dev.yaml").write_text("config: {aws:region: us-east-1}\n")  # broken after loading
    [summary] = fleet.plan_fleet(spec, jobs=1)
    assert summary.status == "error" and summary.error.startswith("ConfigError: ")
    assert "dev: ConfigError: " in fleet.summary_table([summary])


def test_summary_table_shows_dash_without_cost_and_policy_reports():
    rows = fleet.summary_table([
        fleet.Summary("prod", "us-east-1", "primary", resources=158, idle=4210.5, max=98765.4, violations=0),
        fleet.Summary("dev", "us-east-1", "standalone", resources=130),
    ]).splitlines()
    assert rows[1].split() == ["prod", "us-east-1", "primary", "158", "$4,210", "$98,765", "0", "ok"]
    assert rows[2].split() == ["dev", "us-east-1", "standalone", "130", "-", "-", "-", "ok"]
    assert rows[3].split() == ["total", "288", "$4,210", "$98,765"]


def test_report_figures():
    assert fleet.cost_figures({"monthly": {"idle": 10.0, "expected": 20.0, "max": 30.0}, "items": []}) == (10.0, 30.0)
    assert fleet.cost_figures(None) == (None, None)
    assert fleet.violation_count({"violations": [{"policy": "a"}, {"policy": "b"}]}) == 2
    assert fleet.violation_count([]) == 0


def test_progress_bar_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = fleet.Progress(4, stream)
    bar.step(fleet.Summary("a", "r", "primary"))
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\rfleet plan [" + "#" * 7 + "." * 23 + "] 1/4") and text.endswith("\n")


# ---------------------------------------------------------------- fleet preview / up (Automation API boundary)

class RecordingPulumi(auto.PulumiCommand):
    """Stands in for the pulumi CLI: records argv, answers like the CLI would (engine events
    through --event-log, stack outputs and history), fails the stacks in ``fail``."""

    def __init__(self, fail: tuple[str, ...] = ()):  # no `pulumi version` call: there is no binary
        self.command, self.version, self.fail = "pulumi", VersionInfo.parse("3.200.0"), fail
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def run(self, args, cwd, additional_env, on_output=None, on_error=None):
        with self.lock:
            self.calls.append(list(args))
        stack = args[args.index("--stack") + 1]
        failed = args[0] in ("preview", "up") and stack in self.fail
        if "--event-log" in args:  # the CLI ends every event log with a cancel event
            with open(args[args.index("--event-log") + 1], "a") as log:
                if not failed:
                    log.write(json.dumps({"sequence": 1, "timestamp": 1, "summaryEvent": {
                        "maybeCorrupt": False, "durationSeconds": 1, "policyPacks": {},
                        "resourceChanges": {"create": 5, "same": 2}}}) + "\n")
                log.write(json.dumps({"sequence": 2, "timestamp": 2, "cancelEvent": {}}) + "\n")
        if failed:
            raise auto.errors.CommandError(CommandResult(stdout="", stderr=f"error: {stack} broke", code=255))
        out = ""
        if args[:2] == ["stack", "output"]:
            out = "{}"
        elif args[:2] == ["stack", "history"]:
            out = json.dumps([{"version": 1, "kind": "update", "startTime": "2026-11-24T00:00:00.000Z", "message": "",
                               "environment": {}, "config": {}, "result": "succeeded",
                               "endTime": "2026-11-24T00:01:00.000Z", "resourceChanges": {"create": 5, "same": 2}}])
        return CommandResult(stdout=out, stderr="", code=0)


def _argv(calls: list[list[str]], verb: str, stack: str) -> list[str]:
    [argv] = [c for c in calls if c[0] == verb and c[-1] == stack]
    i = argv.index("--event-log")
    return argv[:i + 1] + ["<log>"] + argv[i + 2:]


def test_fleet_preview_drives_pulumi_per_cluster_with_the_stack_file():
    spec = fleet.load(FIXTURE_FLEET)
    cmd = RecordingPulumi()
    results = fleet_deploy.deploy(spec, "preview", FIXTURE_ROOT, concurrency=2, pulumi_command=cmd)
    assert [(r.stack, r.status, r.changes) for r in results] == [
        (s, "ok", {"create": 5, "same": 2}) for s in ("prod", "staging", "dev")]
    assert cmd.calls[0] == ["stack", "select", "--stack", "prod"]  # the primary goes first, alone
    assert cmd.calls[1][0] == "preview" and cmd.calls[1][-1] == "prod"
    assert _argv(cmd.calls, "preview", "staging") == [
        "preview", "--diff", "--policy-pack", "policies",
        "--config-file", str(stack_path("staging")),
        "--exec-kind", "auto.local", "--event-log", "<log>", "--stack", "staging"]
    table = fleet_deploy.deploy_table(results).splitlines()
    assert table[0].split() == ["cluster", "region", "role", "create", "update", "replace", "delete", "same", "time", "status"]
    assert table[1].split()[:8] == ["prod", "us-east-1", "primary", "5", "0", "0", "0", "2"]


def test_fleet_up_stops_after_a_failed_primary():
    spec = fleet.load(FIXTURE_FLEET)
    cmd = RecordingPulumi(fail=("prod",))
    results = fleet_deploy.deploy(spec, "up", FIXTURE_ROOT, pulumi_command=cmd, policy_pack=None)
    assert [r.status for r in results] == ["error", "error", "error"]
    assert results[1].error == "skipped: the primary failed"
    assert [c[0] for c in cmd.calls] == ["stack", "up"]
    assert _argv(cmd.calls, "up", "prod") == [
        "up", "--yes", "--skip-preview", "--config-file", str(stack_path("prod")),
        "--exec-kind", "auto.local", "--event-log", "<log>", "--stack", "prod"]


def test_fleet_up_reads_outputs_and_history_after_each_update():
    spec = fleet.load(FIXTURE_FLEET)
    cmd = RecordingPulumi(fail=("dev",))
    results = fleet_deploy.deploy(spec, "up", FIXTURE_ROOT, concurrency=1, pulumi_command=cmd)
    assert [(r.stack, r.status) for r in results] == [("prod", "ok"), ("staging", "ok"), ("dev", "error")]
    assert "dev broke" in results[2].error
    assert results[0].changes == {"create": 5, "same": 2}
    assert ["stack", "history", "--json", "--show-secrets", "--page-size", "1", "--page", "1", "--stack", "prod"] in cmd.calls


@pytest.mark.skipif(shutil.which("pulumi") is not None, reason="a pulumi CLI is installed here")
def test_fleet_preview_without_the_pulumi_cli_is_a_clear_error(capsys):
    code, out, err = run(capsys, "fleet", "preview")
    assert code == 3 and out == ""  # an external tool is missing: exit_codes.EXTERNAL
    assert err.startswith("error: the pulumi CLI is not installed")


# ---------------------------------------------------------------- cross-stack values

class GlobalStackMocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.reads: list[tuple[str, str, dict]] = []

    def new_resource(self, args):
        if args.typ == "pulumi:pulumi:StackReference":
            self.reads.append((args.name, args.resource_id, dict(args.inputs)))
            return args.resource_id, {**args.inputs, "outputs": {"model_bucket_arn": "arn:aws:s3:::acme-models"}}
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args):
        return {}


def test_global_outputs_come_through_one_stack_reference():
    mocks = GlobalStackMocks()
    pulumi.runtime.set_mocks(mocks, project="gpufleet", stack="prod-west", preview=False)
    seen: dict[str, str] = {}

    @pulumi.runtime.test
    def program():
        outs = fleet.global_outputs(fleet.GlobalStack(stack="acme/gpufleet-global/global", outputs=["model_bucket_arn"]))
        return outs["model_bucket_arn"].apply(lambda v: seen.update(arn=v))

    program()
    assert mocks.reads == [("global", "acme/gpufleet-global/global", {"name": "acme/gpufleet-global/global"})]
    assert seen == {"arn": "arn:aws:s3:::acme-models"}


def test_fleet_file_global_stack_is_parsed(stacks):
    spec = fleet.load(fleet_file(stacks, "global: {stack: acme/gpufleet-global/global, outputs: [model_bucket_arn]}\n"
                                         "clusters:\n  - {stack: dev, region: us-east-1}\n"))
    assert spec.global_stack == fleet.GlobalStack(stack="acme/gpufleet-global/global", outputs=["model_bucket_arn"])
    with pytest.raises(BadInput):
        fleet.load(fleet_file(stacks, "clusters:\n  - {stack: Dev, region: us-east-1}\n"))
