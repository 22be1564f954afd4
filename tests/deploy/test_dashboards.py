"""Static checks of the Grafana dashboards and provisioning (no server needed).

Unique uids and panel ids, every datasource reference resolves to the provisioned Prometheus,
every panel has a title and a unit, every query parses (promtool), vLLM-only panels are
marked and query only vllm:* names that vLLM defines, and the layout fits Grafana's grid.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.dashboards import (
    DEPLOY,
    dashboard_providers,
    iter_panels,
    iter_queries,
    load_dashboards,
    metric_names,
    provisioned_datasources,
)

# Grafana unit ids used here (valueFormats), plus its custom forms "suffix:<text>" etc.
KNOWN_UNITS = {"s", "ms", "reqps", "ops", "percentunit", "percent", "short", "none", "bytes"}
CUSTOM_UNIT = re.compile(r"^(suffix|prefix|count|si):\S.*$")


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict]:
    d = load_dashboards()
    assert d, "no dashboards under deploy/grafana/dashboards"
    return d


def test_dashboard_uids_are_unique_and_valid(dashboards):
    uids = [d.get("uid") for d in dashboards.values()]
    assert all(uids), "every dashboard needs a uid"
    assert len(set(uids)) == len(uids), f"duplicate dashboard uids: {uids}"
    for uid in uids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid), uid
    titles = [d.get("title") for d in dashboards.values()]
    assert all(titles) and len(set(titles)) == len(titles), titles
    for name, d in dashboards.items():
        ids = [p.get("id") for p in iter_panels(d)]
        assert None not in ids and len(set(ids)) == len(ids), f"{name}: panel ids must be unique: {ids}"
        assert d.get("id") is None, f"{name}: provisioned dashboards carry no numeric id"
        assert isinstance(d.get("schemaVersion"), int)


def test_every_panel_has_title_unit_and_queries(dashboards):
    problems = []
    for name, d in dashboards.items():
        for p in iter_panels(d):
            if p.get("type") == "row":
                if not p.get("title"):
                    problems.append(f"{name}: row {p.get('id')} has no title")
                continue
            title = p.get("title") or ""
            if not title.strip():
                problems.append(f"{name}: panel {p.get('id')} has no title")
            unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
            if not unit or not (unit in KNOWN_UNITS or CUSTOM_UNIT.match(unit)):
                problems.append(f"{name}: {title!r} has unit {unit!r}")
            if not p.get("description"):
                problems.append(f"{name}: {title!r} has no description")
            targets = p.get("targets") or []
            if not targets:
                problems.append(f"{name}: {title!r} has no queries")
            refs = [t.get("refId") for t in targets]
            if len(set(refs)) != len(refs) or not all(refs):
                problems.append(f"{name}: {title!r} refIds {refs}")
            if any(not (t.get("expr") or "").strip() for t in targets):
                problems.append(f"{name}: {title!r} has an empty expression")
    assert not problems, "\n".join(problems)


def _datasource_refs(d: dict):
    for p in iter_panels(d):
        if p.get("type") == "row":
            continue
        yield p.get("title"), p.get("datasource")
        for t in p.get("targets", []):
            yield f"{p.get('title')} / {t.get('refId')}", t.get("datasource")
    for a in d.get("annotations", {}).get("list", []):
        if not a.get("builtIn"):
            yield f"annotation {a.get('name')}", a.get("datasource")


def test_datasource_references_resolve_to_the_provisioned_one(dashboards):
    sources = provisioned_datasources()
    assert len(sources) == 1, sources
    ds = sources[0]
    assert ds["type"] == "prometheus" and ds.get("uid"), ds
    problems = []
    for name, d in dashboards.items():
        for where, ref in _datasource_refs(d):
            if ref != {"type": ds["type"], "uid": ds["uid"]}:
                problems.append(f"{name}: {where}: datasource {ref!r}")
        for a in d.get("annotations", {}).get("list", []):
            if a.get("builtIn"):
                assert a["datasource"] == {"type": "grafana", "uid": "-- Grafana --"}, a
    assert not problems, "\n".join(problems)


def test_model_version_changes_are_annotations(dashboards):
    for name, d in dashboards.items():
        exprs = [a.get("expr", "") for a in d["annotations"]["list"] if not a.get("builtIn")]
        assert any("taosr1_model_info" in e for e in exprs), f"{name}: no model-version annotation"
        assert any("taosr1_model_reloads_total" in e for e in exprs), f"{name}: no reload-event annotation"


def test_vllm_panels_are_marked_and_only_they_query_vllm(dashboards):
    for q in iter_queries(dashboards):
        names = metric_names(q.expr)
        assert names, f"{q.where}: no metric name in {q.expr!r}"
        if q.vllm_only:
            assert all(n.startswith("vllm:") for n in names), f"{q.where}: a vLLM-only panel queries {names}"
        else:
            assert all(n.startswith("taosr1_") for n in names), f"{q.where}: queries non-taosr1 names {names}"


def test_vllm_names_exist_in_vllm():
    """The vllm:* names the dashboards use are defined by the installed vLLM (source read, not imported)."""
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("vllm is not installed here: vllm:* names not cross-checked")
    source = "".join(p.read_text(errors="ignore") for p in Path(next(iter(spec.submodule_search_locations))).glob("v1/metrics/*.py"))
    defined = set(re.findall(r'"(vllm:[a-z0-9_:]+)"', source))
    assert defined, "found no vllm:* metric definitions in vllm/v1/metrics"
    missing = []
    for q in iter_queries():
        for n in metric_names(q.expr):
            if n.startswith("vllm:") and re.sub(r"_(total|bucket|sum|count)$", "", n) not in defined:
                missing.append(f"{q.where}: {n}")
    assert not missing, "\n".join(missing)


def test_every_expression_parses_with_promtool(tmp_path):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (scripts/ensure_prometheus.sh installs it): PromQL syntax not checked here")
    queries = list(iter_queries())
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query_{i}", "expr": q.expr} for i, q in enumerate(queries)
    ]}]}
    f = tmp_path / "rules.yml"
    f.write_text(yaml.safe_dump(rules))
    r = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_layout_fits_the_grid(dashboards):
    for name, d in dashboards.items():
        cells: dict[tuple[int, int], str] = {}
        for p in d["panels"] + [c for r in d["panels"] if r.get("collapsed") for c in r.get("panels", [])]:
            g = p["gridPos"]
            assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, (name, p["title"], g)
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{name}: {p['title']!r} overlaps {cells[(x, y)]!r}"
                    cells[(x, y)] = p["title"]


def test_dashboard_provider_points_at_the_mounted_dashboards():
    providers = dashboard_providers()
    assert len(providers) == 1 and providers[0]["type"] == "file", providers
    path = providers[0]["options"]["path"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"] if v.startswith("./"))
    assert mounts.get("./grafana/dashboards") == path, (mounts, path)
    assert mounts.get("./grafana/provisioning") == "/etc/grafana/provisioning", mounts


def test_datasource_url_is_the_compose_prometheus():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    url = provisioned_datasources()[0]["url"]
    m = re.fullmatch(r"http://([\w-]+):(\d+)/?", url)
    assert m, url
    host, port = m.group(1), m.group(2)
    assert host in compose["services"], f"datasource host {host} is no compose service"
    assert any(p.split(":")[-1] == port for p in compose["services"][host]["ports"]), (port, compose["services"][host])
