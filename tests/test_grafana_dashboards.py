"""The dashboards in grafana/dashboards have what Grafana needs to load them from provisioning.

`dashboard_queries()` is also used by tests/integration/test_prometheus.py, which runs every query.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
#: What each template variable is replaced by when a query is run outside Grafana.
SUBSTITUTE = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$school": "panhe-ms"}
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}|([A-Za-z_][A-Za-z0-9_]*))")


def provisioned_uid() -> str:
    doc = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text(encoding="utf-8"))
    (source,) = doc["datasources"]
    assert source["type"] == "prometheus"
    return str(source["uid"])


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    values = values or SUBSTITUTE
    for name in sorted(values, key=len, reverse=True):  # $__rate_interval before $__range
        expr = expr.replace(name, values[name])
    return expr


def dashboard_queries(values: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL with variables substituted) for every panel target and variable."""
    out: list[tuple[str, str, str]] = []
    for path in DASHBOARDS:
        dash = load(path)
        for p in panels(dash):
            for t in p.get("targets", []):
                out.append((path.name, f"{p['title']} [{t['refId']}]", substitute(t["expr"], values)))
        for var in dash.get("templating", {}).get("list", []):
            query = var.get("definition", "")
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            if m:  # label_values(metric, label) is what Grafana asks Prometheus as `group by (label) (metric)`
                out.append((path.name, f"variable {var['name']}", f"group by ({m.group(2)}) ({m.group(1)})"))
    return out


@pytest.fixture(scope="module", params=DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def test_the_four_dashboards_are_there_with_unique_uids_and_titles():
    docs = [load(p) for p in DASHBOARDS]
    assert {d["uid"] for d in docs} == {"campus-district", "campus-school", "campus-buses", "campus-monitor-health"}
    assert len({d["title"] for d in docs}) == len(docs)
    assert all(len(d["uid"]) <= 40 for d in docs)


def test_a_current_schema_version(dashboard):
    assert dashboard["schemaVersion"] >= 39


def test_every_datasource_reference_is_the_provisioned_prometheus(dashboard):
    uid = provisioned_uid()
    refs: list[Any] = []
    for p in panels(dashboard):
        if p["type"] == "row":
            continue
        refs.append(p.get("datasource"))
        refs.extend(t.get("datasource") for t in p["targets"])
    refs.extend(v.get("datasource") for v in dashboard["templating"]["list"] if v["type"] == "query")
    assert refs
    assert all(ref == {"type": "prometheus", "uid": uid} for ref in refs), refs


def test_every_panel_has_targets_with_an_expression_and_unique_ref_ids(dashboard):
    for p in panels(dashboard):
        if p["type"] == "row":
            continue
        targets = p.get("targets", [])
        assert targets, p["title"]
        assert all(t.get("expr", "").strip() for t in targets), p["title"]
        ids = [t["refId"] for t in targets]
        assert len(ids) == len(set(ids)), p["title"]


def test_panel_ids_are_unique_and_panels_do_not_overlap(dashboard):
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for p in panels(dashboard):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells.get((x, y))}"
                cells[(x, y)] = p["title"]


def test_every_variable_a_query_uses_is_defined_or_built_in(dashboard):
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    for p in panels(dashboard):
        for t in p.get("targets", []):
            for m in VARIABLE.finditer(t["expr"]):
                name = m.group(1) or m.group(2)
                assert name in defined or name.startswith("__"), f"{p['title']}: ${name}"


def test_the_school_dashboard_is_driven_by_the_school_variable():
    dash = load(GRAFANA / "dashboards/school.json")
    (var,) = dash["templating"]["list"]
    assert var["name"] == "school" and var["type"] == "query"
    for p in panels(dash):
        for t in p.get("targets", []):
            assert 'school="$school"' in t["expr"], p["title"]


def test_the_buses_dashboard_maps_positions_from_the_bus_metrics():
    dash = load(GRAFANA / "dashboards/buses.json")
    (geomap,) = [p for p in panels(dash) if p["type"] == "geomap"]
    exprs = " ".join(t["expr"] for t in geomap["targets"])
    assert "campus_bus_latitude" in exprs and "campus_bus_longitude" in exprs
    (layer,) = geomap["options"]["layers"]
    assert layer["location"] == {"mode": "coords", "latitude": "latitude", "longitude": "longitude"}
    renamed = next(t for t in geomap["transformations"] if t["id"] == "organize")["options"]["renameByName"]
    assert {"latitude", "longitude", layer["config"]["style"]["color"]["field"]} <= set(renamed.values())


def test_the_provisioning_points_at_the_dashboards_and_the_datasource():
    doc = yaml.safe_load((GRAFANA / "provisioning/dashboards/campus.yaml").read_text(encoding="utf-8"))
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/campus"
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "./grafana/dashboards:/var/lib/grafana/dashboards/campus" in compose


def test_the_json_files_are_what_generate_py_writes():
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered = module.render()
    assert sorted(rendered) == [p.name for p in DASHBOARDS]
    for name, text in rendered.items():
        assert (GRAFANA / "dashboards" / name).read_text(encoding="utf-8") == text, \
            f"{name} was edited by hand or generate.py changed: run `python grafana/generate.py`"
    assert module.DATASOURCE_UID == provisioned_uid()


def test_every_query_is_found_for_the_prometheus_test():
    queries = dashboard_queries()
    assert len(queries) > 40
    assert not [q for q in queries if "$" in q[2].replace("$1", "")], "a variable was left in a query"
