"""Dev idles at most $120 with every add-on running (issue #12, section 3): each lever
measured by ``benchmarks/fit_and_cost.py`` and the log choice only dev may make."""

from __future__ import annotations

import importlib.util

import pytest

from .helpers import FIXTURE_STACKS, ROOT, TEST_SOURCE, apply_edits, assert_one_line_error, raw_config, validate


def benchmark():
    spec = importlib.util.spec_from_file_location("fit_and_cost", ROOT / "benchmarks" / "fit_and_cost.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def report():
    return benchmark().report(FIXTURE_STACKS)


@pytest.mark.on_data_day
def test_dev_idle_before_and_after_the_levers(report):
    assert report["dev_idle_before"] == pytest.approx(146.26, abs=0.01)  # issue #12's starting figure
    assert report["dev_idle_after"] <= 120
    saves = {s["lever"].split(" (")[0]: s["saves"] for s in report["levers"]}
    assert saves["NAT instance"] == pytest.approx(30.49, abs=0.01)
    assert saves["Graviton system nodes"] == pytest.approx(2.34, abs=0.01)
    assert saves["40 pods per system node"] == 0
    assert report["levers"][-1]["fit"]["fits"] and not report["fit_before"]["fits"]
    assert report["dev_idle_after"] == pytest.approx(report["dev_idle_before"] - sum(saves.values()), abs=0.02)
    assert 0.24 <= report["ratio_to_jark"] <= 0.27 and report["jark_idle"] == pytest.approx(447.68, abs=0.01)


def test_every_shipped_stack_fits_with_a_margin(report):
    for stack, f in report["fit"].items():
        assert f["fits"] and min(f["margin"].values()) > 0, stack


def test_opencost_is_measured_and_not_applied(report):
    oc = report["opencost_instead_of_kubecost"]
    assert oc["applied"] is False and oc["saves"] == pytest.approx(0.80, abs=0.01)  # Kubecost's ETL and Alertmanager volumes
    assert oc["fit"]["margin"]["memory"] > report["fit"]["dev"]["margin"]["memory"]
    assert validate(raw_config("dev")).cost.tool == "kubecost"


def test_only_dev_may_drop_the_audit_log():
    assert validate(raw_config("dev")).cluster.logs == ["authenticator"]
    assert validate(apply_edits("dev", [("gpufleet:cluster.logs", [])])).cluster.logs == []
    for stack in ("staging", "prod"):
        assert_one_line_error(apply_edits(stack, [("gpufleet:cluster.logs", ["api", "authenticator"])]),
                              TEST_SOURCE, "gpufleet:cluster.logs",
                              f"a list that includes api, audit, authenticator in {stack} (missing audit; "
                              "only dev may choose its log types)")
