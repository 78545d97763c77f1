"""The cost layer as rendered: cost tool values, GPU rules and dashboard, budget, scale-down schedules."""

from __future__ import annotations

import json

import pytest
import yaml

from gpufleet.modules import k8s_schema
from gpufleet.modules.charts import CHARTS
from gpufleet.modules.cost import rules
from gpufleet.modules.cost.budget import notification_plan
from gpufleet.modules.cost.model import estimate, tool_volumes
from gpufleet.modules.cost.tool import prometheus_resources
from gpufleet.modules.helm_addon import check_values

from .helpers import edit, raw_config, render

RELEASE = "kubernetes:helm.sh/v3:Release"
SCHEDULE = "aws:autoscaling/schedule:Schedule"
BUDGET = "aws:budgets/budget:Budget"


def kubecost_values(plan) -> dict:
    return plan.get(RELEASE, "kubecost-release").inputs["values"]


# ------------------------------------------------------------------ Kubecost

def test_kubecost_is_pinned_and_its_values_exist_in_the_chart(any_stack_plan):
    rel = any_stack_plan.get(RELEASE, "kubecost-release").inputs
    assert (rel["chart"], rel["version"], rel["namespace"]) == ("cost-analyzer", "2.4.2", "kubecost")
    check_values(CHARTS["cost-analyzer"], rel["values"])  # raises on a key the chart lacks


def test_kubecost_prometheus_is_small_sized_for_the_system_pool_and_priced(any_stack_plan):
    cfg = any_stack_plan.config
    server = kubecost_values(any_stack_plan)["prometheus"]["server"]
    vols = tool_volumes(cfg.cost)
    assert server["persistentVolume"]["size"] == f"{vols['prometheus']}Gi"
    assert server["retention"] == f"{cfg.cost.prometheus.retention_days}d"
    assert server["resources"] == prometheus_resources(cfg.pools.system)
    assert server["nodeSelector"] == {"gpufleet.io/role": "system"}
    # the same volume is a line of the estimate
    est = estimate(cfg)
    assert any(i.resource == "cost-tool-prometheus" and i.idle == pytest.approx(vols["prometheus"] * 0.08) for i in est.items)


def test_prometheus_requests_fit_a_t3a_medium():
    from gpufleet.modules.schema.pools import SystemPool

    res = prometheus_resources(SystemPool(instance_types=["t3a.medium", "t3.medium"], capacity="spot"))
    # 15 % of 3246Mi allocatable, 5 % of 1930m
    assert res["requests"] == {"cpu": "96m", "memory": "486Mi"} and res["limits"] == {"memory": "972Mi"}


def test_dcgm_exporter_is_scraped_by_the_chart_default_job(dev_plan):
    values = kubecost_values(dev_plan)
    assert "extraScrapeConfigs" not in values["prometheus"]  # the chart's default stays in force
    default = k8s_schema.chart_defaults(CHARTS["cost-analyzer"].values_file)["prometheus"]["extraScrapeConfigs"]
    assert "job_name: kubecost-dcgm-exporter" in default and "dcgm-exporter" in default


def test_the_gpu_operator_runs_the_dcgm_exporter_the_job_keeps(dev_plan):
    ops = [r for r in dev_plan.by_type(RELEASE) if r.inputs["chart"] == "gpu-operator"]
    if not ops:
        pytest.skip("no GPU Operator in this plan")
    assert ops[0].inputs["values"]["dcgmExporter"]["enabled"] is True
    # the operator labels the exporter's pods app=nvidia-dcgm-exporter; the job keeps .*dcgm-exporter.*
    import re

    assert re.fullmatch(r"(?i)(.*dcgm-exporter.*)", "nvidia-dcgm-exporter;;")


def test_gpu_rules_are_loaded_by_kubecost_prometheus(dev_plan):
    files = kubecost_values(dev_plan)["prometheus"]["serverFiles"]
    # both files are in the chart's rule_files list
    rule_files = k8s_schema.chart_defaults(CHARTS["cost-analyzer"].values_file)["prometheus"]["serverFiles"]["prometheus.yml"]["rule_files"]
    assert {"/etc/config/recording_rules.yml", "/etc/config/alerting_rules.yml"} <= set(rule_files)
    recording = files["recording_rules.yml"]["groups"][0]["rules"]
    share = {r.get("labels", {}).get("pool"): r["expr"] for r in recording if r["record"] == "gpufleet:node_gpu_share"}
    # shared-l4 is time-sliced 4 ways: a slice is a quarter of a GPU in the per-team figures
    assert share["shared-l4"].endswith("/ 4") and 'label_gpufleet_io_pool="shared-l4"' in share["shared-l4"]
    assert 'label_gpufleet_io_pool=~"train-spot"' in share[None]
    alerts = {(r["alert"], r["labels"].get("team")): r for r in files["alerting_rules.yml"]["groups"][0]["rules"]}
    idle = alerts[("GpuAllocatedButIdle", None)]
    assert "DCGM_FI_DEV_GPU_UTIL" in idle["expr"] and idle["expr"].endswith("< 10") and idle["for"] == "60m"
    for team in dev_plan.config.teams:
        rule = alerts[("GpuJobOverTeamLimit", team.name)]
        assert f'namespace="{team.namespace}"' in rule["expr"]
        assert rule["expr"].endswith(f"> {team.max_job_hours * 3600}")
        assert f"[{team.max_job_hours + 1}h:5m]" in rule["expr"]


def test_alerts_go_to_the_stacks_sns_topic_with_a_least_privilege_role(dev_plan):
    am = kubecost_values(dev_plan)["prometheus"]
    topic_arn = dev_plan.outputs["cost"]["alerts_topic_arn"]
    cfg = am["alertmanagerFiles"]["alertmanager.yml"]
    assert cfg["route"]["receiver"] == "sns"
    assert cfg["receivers"][0]["sns_configs"][0]["topic_arn"] == topic_arn
    assert am["alertmanager"]["enabled"] is True
    assert am["serviceAccounts"]["alertmanager"]["name"] == "kubecost-alertmanager"
    assoc = dev_plan.get("aws:eks/podIdentityAssociation:PodIdentityAssociation", "kubecost-identity-association").inputs
    assert (assoc["namespace"], assoc["serviceAccount"]) == ("kubecost", "kubecost-alertmanager")
    policy = json.loads(dev_plan.get("aws:iam/rolePolicy:RolePolicy", "kubecost-identity-inline").inputs["policy"])
    assert policy["Statement"] == [{"Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn}]


# ------------------------------------------------------------------ dashboard

def test_dashboard_configmap_validates_and_covers_node_pool_team_and_idle(dev_plan):
    cm = dev_plan.get("kubernetes:core/v1:ConfigMap", "dashboards-gpus")
    obj = k8s_schema.manifest(cm.type, cm.inputs)
    assert k8s_schema.validate_builtin(obj, dev_plan.config.cluster.version) == []
    assert obj["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert obj["metadata"]["namespace"] == "kubecost"
    board = json.loads(obj["data"]["gpufleet-gpus.json"])
    titles = [p["title"] for p in board["panels"]]
    for word in ("per node", "per pool", "per team namespace", "Allocated but idle", "GPU cost per team"):
        assert any(word in t for t in titles), word
    exprs = " ".join(t["expr"] for p in board["panels"] for t in p["targets"])
    assert "DCGM_FI_DEV_GPU_UTIL" in exprs and "DCGM_FI_DEV_FB_USED" in exprs
    # Kubecost's Grafana is off (issue #10 finding 7): the label is the one Grafana dashboard
    # sidecars watch by default (the cost-analyzer chart's own default too), for a Grafana of the
    # operator's choosing
    assert kubecost_values(dev_plan)["global"]["grafana"] == {"enabled": False, "proxy": False}
    sidecar = k8s_schema.chart_defaults(CHARTS["cost-analyzer"].values_file)["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"]) == ("grafana_dashboard", "1")


# ------------------------------------------------------------------ budget

def test_budget_per_stack_filtered_by_all_cost_tags(any_stack_plan):
    cfg = any_stack_plan.config
    b = any_stack_plan.get(BUDGET, "budget-monthly").inputs
    assert (b["budgetType"], b["timeUnit"], b["limitUnit"]) == ("COST", "MONTHLY", "USD")
    assert float(b["limitAmount"]) == cfg.cost.budget_usd
    tags = {a["tags"]["key"]: a["tags"]["values"] for a in b["filterExpression"]["ands"]}
    assert tags == {k: [v] for k, v in cfg.tags.as_tags().items()}
    topic = any_stack_plan.outputs["cost"]["alerts_topic_arn"]
    got = {(n["notificationType"], n["threshold"]) for n in b["notifications"]}
    assert {("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 80), ("FORECASTED", 100)} <= got
    assert len(b["notifications"]) <= 5  # the AWS limit per budget
    for n in b["notifications"]:
        assert n["subscriberSnsTopicArns"] == [topic] and n["comparisonOperator"] == "GREATER_THAN"
        # e-mail only through the topic's subscriptions: once per address (tests/test_issue9_small.py)
        assert "subscriberEmailAddresses" not in n


def test_early_warning_when_the_forecast_passes_the_expected_cost():
    assert ("FORECASTED", 5.4) in notification_plan(5500, 299.4)
    assert len(notification_plan(100, 90)) == 4  # expected already above 80 %: no extra


def test_budgets_may_publish_to_the_topic_and_emails_subscribe(dev_plan):
    pol = json.loads(dev_plan.get("aws:sns/topicPolicy:TopicPolicy", "budget-alerts-policy").inputs["policy"])
    st = pol["Statement"][0]
    assert st["Principal"] == {"Service": "budgets.amazonaws.com"} and st["Action"] == "SNS:Publish"
    assert st["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    subs = dev_plan.by_type("aws:sns/topicSubscription:TopicSubscription")
    assert {(s.inputs["protocol"], s.inputs["endpoint"]) for s in subs} == {("email", "ml-platform-alerts@example.com")}


# ------------------------------------------------------------------ schedules

def test_dev_gpu_pools_stop_at_night_and_restart_on_demand(dev_plan):
    sched = dev_plan.config.cost.schedule
    by_name = {r.name: r.inputs for r in dev_plan.by_type(SCHEDULE)}
    for pool in dev_plan.config.pools.gpu:
        stop, start = by_name[f"scale-down-{pool.name}-stop"], by_name[f"scale-down-{pool.name}-start"]
        asg = f"eks-{pool.name}-asg"  # the node group's Auto Scaling group (mock engine)
        assert stop["autoscalingGroupName"] == start["autoscalingGroupName"] == asg
        assert (stop["minSize"], stop["maxSize"], stop["desiredCapacity"]) == (0, 0, 0)
        assert (start["minSize"], start["maxSize"], start["desiredCapacity"]) == (0, pool.max, 0)
        assert (stop["recurrence"], start["recurrence"]) == (sched.stop, sched.start)
        assert stop["timeZone"] == start["timeZone"] == "Europe/Berlin"
    assert dev_plan.outputs["cost"]["scale_down"]["pools"] == [p.name for p in dev_plan.config.pools.gpu]


def test_prod_has_no_scale_down(prod_plan):
    assert prod_plan.by_type(SCHEDULE) == []
    assert prod_plan.outputs["cost"]["scale_down"]["pools"] == []


def test_staging_warms_only_the_pool_that_asks():
    from tests.conftest import shipped_plan

    plan = shipped_plan("staging")
    starts = {r.name: r.inputs for r in plan.by_type(SCHEDULE) if r.name.endswith("-start")}
    assert starts["scale-down-infer-l40s-start"]["minSize"] == 1
    assert starts["scale-down-infer-l40s-start"]["desiredCapacity"] == 1
    assert starts["scale-down-shared-l4-start"]["minSize"] == 0
    # the warm node's work hours are in the expected estimate
    est = estimate(plan.config)
    assert any(i.resource == "pool-infer-l40s-ng" and i.expected > i.idle for i in est.items)


# ------------------------------------------------------------------ OpenCost (one extra render)

@pytest.fixture(scope="module")
def opencost_plan():
    raw = edit(raw_config("dev"), "gpufleet:cost.tool", "opencost")
    edit(raw, "gpufleet:cost.schedule.pools", {"shared-l4": {"exempt": True}})
    return render(raw)


def test_opencost_with_its_own_small_prometheus(opencost_plan):
    rel = opencost_plan.get(RELEASE, "opencost-release").inputs
    assert (rel["chart"], rel["version"], rel["namespace"]) == ("opencost", "2.5.17", "opencost")
    check_values(CHARTS["opencost"], rel["values"])
    internal = rel["values"]["opencost"]["prometheus"]["internal"]
    assert (internal["serviceName"], internal["namespaceName"], internal["port"]) == ("gpufleet-prometheus", "opencost", 80)
    assert opencost_plan.by_type(RELEASE) and not [r for r in opencost_plan.by_type(RELEASE) if r.name == "kubecost-release"]
    version = opencost_plan.config.cluster.version
    objs = [k8s_schema.manifest(r.type, r.inputs) for r in opencost_plan.resources
            if r.type.startswith("kubernetes:") and "SmallPrometheus" in (r.urn or "")]
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "PersistentVolumeClaim",
                     "Service", "ServiceAccount"]
    for obj in objs:
        assert k8s_schema.validate_builtin(obj, version) == [], obj["kind"]
    cm = next(o for o in objs if o["kind"] == "ConfigMap")
    prom = yaml.safe_load(cm["data"]["prometheus.yml"])
    assert {j["job_name"] for j in prom["scrape_configs"]} == {"opencost", "kubernetes-nodes-cadvisor", "dcgm-exporter"}
    assert prom["rule_files"] == ["/etc/prometheus/rules.yml"]
    groups = yaml.safe_load(cm["data"]["rules.yml"])["groups"]
    assert [g["name"] for g in groups] == [rules.GROUP_RECORDING, rules.GROUP_ALERTS]
    pvc = next(o for o in objs if o["kind"] == "PersistentVolumeClaim")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "8Gi"
    # the dashboard follows the tool's namespace; the exempt pool keeps running at night
    assert opencost_plan.get("kubernetes:core/v1:ConfigMap", "dashboards-gpus").inputs["metadata"]["namespace"] == "opencost"
    assert {r.name for r in opencost_plan.by_type(SCHEDULE)} == {"scale-down-train-spot-stop", "scale-down-train-spot-start"}
