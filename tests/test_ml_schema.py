"""gpufleet:ml and gpufleet:teams: defaults, and one clear error for each bad input."""

from __future__ import annotations

import pytest

from gpufleet.modules.schema.ml import scale_down_delay, serving_pool

from .helpers import TEST_SOURCE, apply_edits, assert_one_line_error, edit, raw_config, validate

SRC = TEST_SOURCE

# (id, stack, edits [(path, value)], key path in message, expected text)
CASES = [
    ("shares-over-100", "dev", [("gpufleet:teams[1].shares.shared-l4", 60)],
     "gpufleet:teams[1].shares.shared-l4",
     "got 60; expected at most 50 (shares of pool shared-l4 add up to at most 100 %; already held: research 50 %)"),
    ("share-on-unknown-pool", "dev", [("gpufleet:teams[0].shares.infer-l40s", 10)],
     "gpufleet:teams[0].shares.infer-l40s", "expected a share of a GPU pool of this stack: shared-l4, train-spot"),
    ("quota-on-pool-without-share", "prod", [("gpufleet:teams[0].ceilings", {"infer-l40s": 50})],
     "gpufleet:teams[0].ceilings.infer-l40s",
     "expected a ceiling only on a pool this team has a share in (train-a100, mig-a100); a team cannot use a pool"),
    ("ceiling-below-share", "dev", [("gpufleet:teams[0].ceilings", {"train-spot": 40})],
     "gpufleet:teams[0].ceilings.train-spot", "got 40; expected at least the team's share of train-spot (60)"),
    ("share-too-small-for-one-gpu", "dev", [("gpufleet:teams[0].shares.train-spot", 10)],
     "gpufleet:teams[0].shares.train-spot",
     "expected a share that gives at least one nvidia.com/gpu (pool train-spot has 8 at most: at least 13 %)"),
    ("share-over-100-percent-value", "dev", [("gpufleet:teams[0].shares.shared-l4", 120)],
     "gpufleet:teams[0].shares.shared-l4", "got 120; expected a percentage from 0 to 100"),
    ("unknown-pool-in-flavor-order", "dev", [("gpufleet:ml", {"kueue": {"flavor_order": ["train-spot", "a100"]}})],
     "gpufleet:ml.kueue.flavor_order[1]", "got 'a100'; expected a GPU pool of this stack (each pool is one Kueue flavor)"),
    ("unknown-serving-pool", "dev", [("gpufleet:ml", {"serving_pool": "infer-l40s"})],
     "gpufleet:ml.serving_pool", "expected a GPU pool of this stack: shared-l4, train-spot"),
    ("timesliced-pool-named-default", "dev", [("gpufleet:pools.gpu[0].name", "default"),
                                              ("gpufleet:teams[0].shares", {"train-spot": 60}),
                                              ("gpufleet:teams[1].shares", {"train-spot": 40})],
     "gpufleet:pools.gpu[0].name", "the device plugin's default config key"),
    ("too-many-labels-for-a-flavor", "dev", [("gpufleet:pools.gpu[0].labels", {"a": "1", "b": "2", "c": "3"})],
     "gpufleet:pools.gpu[0].labels", "expected at most 2 custom labels on this pool (its Kueue ResourceFlavor holds at most 8"),
    ("unknown-training-operator", "dev", [("gpufleet:ml", {"training": "tfjob"})],
     "gpufleet:ml.training", "got 'tfjob'; expected 'trainer' or 'pytorchjob'"),
    ("reserve-more-than-a-node", "dev", [("gpufleet:ml", {"kueue": {"node_reserved_cpu_millis": 4000}})],
     "gpufleet:ml.kueue.node_reserved_cpu_millis", "expected less than a node of pool shared-l4 has allocatable (3920 millicores)"),
    ("unknown-ml-key", "dev", [("gpufleet:ml", {"kserv": False})],
     "gpufleet:ml.kserv", "a key allowed here: training, kserve, serving_pool"),
    ("job-hours-beyond-a-week", "dev", [("gpufleet:teams[0].max_job_hours", 200)],
     "gpufleet:teams[0].max_job_hours", "got 200; expected an integer from 1 to 168"),
]




@pytest.mark.parametrize("stack,edits,key_path,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_ml_or_team_input_gives_one_clear_message(stack, edits, key_path, expected):
    assert_one_line_error(apply_edits(stack, edits), SRC, key_path, expected)


def test_a_share_of_zero_means_borrow_only_and_is_valid():
    raw = raw_config("dev")
    edit(raw, "gpufleet:teams[1].shares.shared-l4", 0)
    cfg = validate(raw)
    assert cfg.team("applied").shares["shared-l4"] == 0


def test_defaults_trainer_kserve_and_scale_down_delay_per_environment():
    delays = {}
    for stack in ("dev", "staging", "prod"):
        cfg = validate(raw_config(stack))
        assert cfg.ml.training == "trainer" and cfg.ml.kserve
        delays[stack] = scale_down_delay(cfg)
    assert delays["dev"] < delays["staging"] < delays["prod"]


def test_serving_pool_defaults_to_the_first_inference_pool():
    assert serving_pool(validate(raw_config("prod"))).name == "mig-a100"
    assert serving_pool(validate(raw_config("dev"))).name == "shared-l4"  # no inference pool: the experiments pool
    raw = raw_config("prod")
    raw["gpufleet:ml"] = {**raw.get("gpufleet:ml", {}), "serving_pool": "infer-l40s"}
    assert serving_pool(validate(raw)).name == "infer-l40s"


def test_team_names_derive_namespace_queue_and_deadline():
    team = validate(raw_config("dev")).team("research")
    assert (team.namespace, team.queue, team.max_job_seconds) == ("team-research", "team-research", 12 * 3600)
