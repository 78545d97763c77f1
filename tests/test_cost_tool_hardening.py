"""The cost tool as its chart really renders it: pinned images, no open Grafana (issue #10, finding 7).

Each shipped stack's cost tool release (and OpenCost's, on the dev stack switched to it) is
rendered from the vendored chart archive with the plan's values (``gpufleet.chart_render``),
and what would run is checked: every container image names a version (a tag that is not
``latest``, or a digest), no Grafana configuration lets anonymous users in, and no Secret
carries the chart's default Grafana admin password.
"""

from __future__ import annotations

import base64
import configparser
import re
from collections.abc import Iterator
from typing import Any

import pytest

from gpufleet import chart_render as cr
from gpufleet.modules.charts import CHARTS
from gpufleet.modules.cost.tool import NAMESPACE
from gpufleet.modules.k8s_schema import chart_defaults

from .conftest import shipped_plan
from .helpers import STACKS, edit, raw_config, render

COST_CHARTS = {"cost-analyzer", "opencost"}
#: the chart's own default admin password (``grafana.adminPassword``, "strongpassword" in 2.4.2)
DEFAULT_GRAFANA_PASSWORD = chart_defaults(CHARTS["cost-analyzer"].values_file)["grafana"]["adminPassword"]

_cost_releases: dict[str, list[cr.RenderedRelease]] = {}


def cost_releases(stack: str) -> list[cr.RenderedRelease]:
    """The cost tool's releases of a stack, rendered from the vendored archives ("opencost":
    the dev stack with ``cost.tool: opencost``)."""
    if stack not in _cost_releases:
        if stack == "opencost":
            plan = render(edit(raw_config("dev"), "gpufleet:cost.tool", "opencost"))
        else:
            plan = shipped_plan(stack)
        releases = [r for r in plan.by_type(cr.RELEASE_TYPE) if r.inputs["chart"] in COST_CHARTS]
        _cost_releases[stack] = [
            cr.render_release(r.inputs["chart"], r.inputs["version"], r.inputs.get("values") or {},
                              r.inputs.get("name") or r.name, r.inputs.get("namespace") or "default", resource=r.name)
            for r in releases]
    return _cost_releases[stack]


@pytest.fixture(scope="module", params=[*STACKS, "opencost"])
def releases(request) -> list[cr.RenderedRelease]:
    found = cost_releases(request.param)
    assert found and all(r.error is None and r.manifests for r in found), [r.error for r in found]
    return found


def pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        yield spec
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield spec["template"]["spec"]
    elif kind == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]


def images(rel: cr.RenderedRelease) -> dict[str, str]:
    """``"Kind/name/container" -> image`` of every container the release would run."""
    out = {}
    for m in rel.installed:
        for spec in pod_specs(m.obj):
            for key in ("initContainers", "containers", "ephemeralContainers"):
                for c in spec.get(key) or ():
                    out[f"{m.kind}/{m.name}/{c['name']}"] = c.get("image", "")
    return out


def version_of(image: str) -> str | None:
    """The tag (or ``@digest``) of an image reference; None when it names neither."""
    if "@" in image:
        return image.split("@", 1)[1]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def test_version_of_reads_tags_and_digests():
    assert version_of("quay.io/prometheus/prometheus:v2.55.1") == "v2.55.1"
    assert version_of("localhost:5000/prometheus") is None  # a registry port is not a tag
    assert version_of("cgr.dev/chainguard/grafana:latest") == "latest"
    assert version_of("opencost/opencost:1.1@sha256:abc") == "sha256:abc"
    assert version_of("busybox") is None and version_of("busybox:") == ""


def test_every_image_the_cost_tool_runs_names_a_version(releases):
    found = {f"{r.resource}: {where}": img for r in releases for where, img in images(r).items()}
    assert found  # the cost model, Prometheus, ...
    bad = {where: img for where, img in found.items() if version_of(img) in (None, "", "latest")}
    assert not bad, bad
    # and a version, not a moving name (``main``, ``stable``)
    assert all(re.search(r"\d+\.\d+", version_of(img) or "") or version_of(img).startswith("sha256:")
               for img in found.values()), found


def test_no_grafana_lets_anonymous_users_in(releases):
    for rel in releases:
        for cm in rel.find("ConfigMap"):
            ini = (cm.get("data") or {}).get("grafana.ini")
            if ini is None:
                continue
            parser = configparser.ConfigParser(interpolation=None)
            parser.read_string(ini)
            enabled = parser.get("auth.anonymous", "enabled", fallback="false").strip().lower()
            assert enabled != "true", f"{rel.resource}: ConfigMap/{cm['metadata']['name']} lets anonymous users in"


def test_no_secret_carries_the_default_grafana_password(releases):
    assert DEFAULT_GRAFANA_PASSWORD  # the chart has one, so the check below means something
    for rel in releases:
        for secret in rel.find("Secret"):
            values = [base64.b64decode(v).decode(errors="replace") for v in (secret.get("data") or {}).values()]
            values += list((secret.get("stringData") or {}).values())
            assert DEFAULT_GRAFANA_PASSWORD not in values, f"{rel.resource}: Secret/{secret['metadata']['name']}"


@pytest.mark.parametrize("stack", STACKS)
def test_kubecost_runs_no_grafana_and_its_frontend_does_not_proxy_to_one(stack):
    [kubecost] = [r for r in cost_releases(stack) if r.chart == "cost-analyzer"]
    assert kubecost.namespace == NAMESPACE["kubecost"]
    assert not [d for d in kubecost.find("Deployment") if "grafana" in d["metadata"]["name"]]
    # with Grafana off and the proxy on, nginx would resolve an upstream that does not exist
    confs = [cm["data"]["nginx.conf"] for cm in kubecost.find("ConfigMap") if "nginx.conf" in (cm.get("data") or {})]
    assert confs and not any("upstream grafana" in c or "location /grafana/" in c for c in confs)
    # the cost model is told so (its UI hides the Grafana links)
    [model] = [d for d in kubecost.find("Deployment", "kubecost-cost-analyzer")]
    env = {e["name"]: e.get("value") for c in model["spec"]["template"]["spec"]["containers"] for e in c.get("env") or ()}
    assert env.get("GRAFANA_ENABLED") == "false"
