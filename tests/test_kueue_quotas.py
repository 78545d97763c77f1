"""The pure quota math (modules/ml/quotas.py): property tests over generated stacks."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.modules.ml import quotas
from gpufleet.modules.schema.ml import KueueConfig, MlConfig
from gpufleet.modules.schema.pools import GpuPool
from gpufleet.modules.schema.stack import PoolsConfig, StackConfig
from gpufleet.modules.schema.teams import Team

from .helpers import raw_config
from .helpers import validate as validate_raw

POOL_SHAPES = [
    {"instance_types": ["g6.xlarge"], "sharing": "timeslice", "replicas": 4},
    {"instance_types": ["g6.12xlarge", "g6.24xlarge"], "capacity": "spot"},
    {"instance_types": ["p4d.24xlarge"], "sharing": "mig", "mig_config": "all-1g.5gb"},
    {"instance_types": ["p4d.24xlarge"], "sharing": "mig", "mig_config": "all-balanced"},
    {"instance_types": ["g6e.xlarge"]},
    {"instance_types": ["p5.48xlarge"], "sharing": "mig", "mig_config": "all-3g.40gb"},
]


def base_cfg() -> StackConfig:
    return validate_raw(raw_config("dev"))


BASE = None


@st.composite
def stacks(draw):
    """A dev stack with 1-3 generated pools and 1-4 teams whose shares add up to ≤ 100 %."""
    global BASE
    BASE = BASE or base_cfg()
    n_pools = draw(st.integers(1, 3))
    pools = []
    for i in range(n_pools):
        shape = draw(st.sampled_from(POOL_SHAPES))
        pools.append(GpuPool(name=f"p{i}", max=draw(st.integers(1, 12)), **shape))
    teams = []
    remaining = {p.name: 100 for p in pools}
    for t in range(draw(st.integers(1, 4))):
        shares = {}
        for p in pools:
            if draw(st.booleans()):
                pct = draw(st.integers(0, remaining[p.name]))
                shares[p.name] = pct
                remaining[p.name] -= pct
        ceilings = {p: draw(st.integers(s, 100)) for p, s in shares.items() if draw(st.booleans())}
        teams.append({"name": f"t{t}", "shares": shares, "ceilings": ceilings})
    kueue = KueueConfig(borrowing_limit_percent=draw(st.none() | st.integers(0, 100)),
                        lending_limit_percent=draw(st.none() | st.integers(0, 100)))
    # model_copy: the quota math needs pools, teams and ml.kueue, not the other sections' rules
    return BASE.model_copy(update={"pools": PoolsConfig(gpu=pools), "teams": [Team(**t) for t in teams],
                                   "ml": MlConfig(kueue=kueue)})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_nominal_quotas_plus_cohort_equal_capacity_and_never_exceed_it(cfg):
    caps = quotas.capacities(cfg)
    left = quotas.unassigned(cfg)
    for pool in cfg.pools.gpu:
        cap = caps[pool.name].as_resources()
        users = [t for t in cfg.teams if pool.name in t.shares]
        for resource, total in cap.items():
            guaranteed = sum(q.nominal[resource] for t in users for q in quotas.team_quotas(cfg, t) if q.flavor == pool.name)
            assert 0 <= guaranteed <= total
            if users:
                assert guaranteed + left[pool.name][resource] == total


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_limits_stay_within_capacity_and_nominal(cfg):
    caps = quotas.capacities(cfg)
    for team in cfg.teams:
        for q in quotas.team_quotas(cfg, team):
            cap = caps[q.flavor].as_resources()
            for r, nominal in q.nominal.items():
                if q.borrowing_limit is not None:
                    assert 0 <= q.borrowing_limit[r] and nominal + q.borrowing_limit[r] <= cap[r]
                if q.lending_limit is not None:
                    assert 0 <= q.lending_limit[r] <= nominal
            assert all(v <= cap[r] for r, v in q.ceiling(cap).items())
        ceiling = quotas.team_ceiling(cfg, team)
        total = {}
        for q in quotas.team_quotas(cfg, team):
            for r, v in caps[q.flavor].as_resources().items():
                total[r] = total.get(r, 0) + v
        assert all(ceiling[r] <= total[r] for r in ceiling)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_flavor_order_puts_spot_first_and_covers_every_pool_once(cfg):
    order = quotas.flavor_order(cfg)
    assert sorted(order) == sorted(p.name for p in cfg.pools.gpu)
    kinds = [cfg.pool(n).capacity for n in order]
    assert kinds == sorted(kinds, key=lambda c: c != "spot")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_covered_resources_are_the_pools_gpu_resource_names(cfg):
    for team in cfg.teams:
        flavors = [q.flavor for q in quotas.team_quotas(cfg, team)]
        covered = quotas.covered_resources(cfg, flavors)
        assert covered[:2] == ["cpu", "memory"]
        expected = {r for f in flavors for r in cfg.pool(f).gpu_resources_per_node}
        assert set(covered[2:]) == expected
        for f in flavors:
            pool = cfg.pool(f)
            names = set(pool.gpu_resources_per_node)
            assert names == ({"nvidia.com/gpu"} if pool.sharing != "mig"
                             else {f"nvidia.com/mig-{p}" for p in pool.mig_layout})


@given(st.integers(0, 10**9), st.integers(0, 100))
def test_share_of_rounds_down_and_shares_never_sum_above_the_whole(total, pct):
    part = quotas.share_of(total, pct)
    assert 0 <= part <= total
    assert part + quotas.share_of(total, 100 - pct) <= total
    assert part * 100 <= total * pct < (part + 1) * 100


@given(st.integers(0, 10**7))
def test_quantities_round_trip(n):
    assert quotas.parse_cpu_millis(quotas.quantity("cpu", n)) == n
    assert quotas.parse_memory_mib(quotas.quantity("memory", n)) == n
    assert quotas.quantity("nvidia.com/gpu", n) == n


def test_quantity_parsing_of_catalog_forms():
    assert quotas.parse_cpu_millis("3920m") == 3920
    assert quotas.parse_cpu_millis("4") == 4000
    assert quotas.parse_memory_mib("14162Mi") == 14162
    assert quotas.parse_memory_mib("2Gi") == 2048
    assert quotas.parse_memory_mib("1024Ki") == 1


def test_pool_capacity_uses_the_smallest_instance_type_and_max_nodes():
    pool = GpuPool(name="x", instance_types=["g6.12xlarge", "g6.24xlarge"], capacity="spot", max=3)
    cap = quotas.pool_capacity(pool, 1000, 2048)
    assert cap.cpu_millis == 3 * (47810 - 1000)
    assert cap.memory_mib == 3 * (178933 - 2048)
    assert cap.gpus == {"nvidia.com/gpu": 12}
