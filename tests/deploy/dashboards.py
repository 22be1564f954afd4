"""Reading the Grafana dashboards and provisioning under deploy/: panels, queries, metric names.

Shared by the static checks (test_dashboards.py) and the end-to-end Prometheus test. Panels
that only have data with the vLLM engine say so with VLLM_MARKER at the start of their
description; annotation queries ending in a `> 0` filter are event queries (empty while
nothing happens).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DASHBOARD_DIR = DEPLOY / "grafana" / "dashboards"
PROVISIONING = DEPLOY / "grafana" / "provisioning"
VLLM_MARKER = "[engine=vllm]"


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    expr: str
    instant: bool
    vllm_only: bool
    event: bool = False  # an annotation that is empty while nothing happens

    @property
    def where(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


def load_dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in dashboard_files()}


def iter_panels(dashboard: dict) -> Iterator[dict]:
    """Every panel, rows included, with the panels inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", []) if panel.get("type") == "row" else ()


def is_vllm_only(panel: dict) -> bool:
    return (panel.get("description") or "").startswith(VLLM_MARKER)


def iter_queries(dashboards: dict[str, dict] | None = None) -> Iterator[Query]:
    """Every PromQL expression: each target of each panel, and each Prometheus annotation."""
    for name, dash in (dashboards or load_dashboards()).items():
        for panel in iter_panels(dash):
            for t in panel.get("targets", []):
                yield Query(name, panel.get("title", "?"), t.get("refId", "?"), t.get("expr", ""),
                            bool(t.get("instant")) and not t.get("range"), is_vllm_only(panel))
        for ann in dash.get("annotations", {}).get("list", []):
            if ann.get("builtIn"):
                continue
            expr = ann.get("expr") or ann.get("target", {}).get("expr", "")
            yield Query(name, f"annotation {ann.get('name')}", "annotation", expr, False,
                        VLLM_MARKER in ann.get("name", ""), event=bool(re.search(r">\s*0\s*$", expr)))


# --- metric names in a PromQL expression (enough of PromQL for these dashboards) -------------
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless",
             "inf", "nan", "atan2",
             # aggregation operators may stand before `by (...)` instead of their parenthesis
             "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
             "quantile", "limitk", "limit_ratio"}


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions, keywords or labels."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                 # string literals
    s = re.sub(r"\{[^}]*\}", "", s)                              # label matchers
    s = re.sub(r"\[[^\]]*\]", "", s)                             # range / subquery windows
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", s)  # label lists
    names = set()
    for m in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?", s):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


# --- provisioning ---------------------------------------------------------------------------
def provisioned_datasources() -> list[dict]:
    out = []
    for f in sorted((PROVISIONING / "datasources").glob("*.y*ml")):
        out += yaml.safe_load(f.read_text()).get("datasources", [])
    return out


def dashboard_providers() -> list[dict]:
    out = []
    for f in sorted((PROVISIONING / "dashboards").glob("*.y*ml")):
        out += yaml.safe_load(f.read_text()).get("providers", [])
    return out
