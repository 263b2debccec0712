"""`campus-monitor registry import-gtfs`: a GTFS route and shape become a registry `routes:` snippet that
the registry loader accepts, on the real WMATA feed in ../shared/data/realgps."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devices.gtfs import read_shape
from devices.registry import parse_registry
from monitor.cli import main

FEED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "realgps" / "wmata_2016" / "gtfs" / "3T"
pytestmark = pytest.mark.skipif(not (FEED / "shapes.txt").is_file(), reason=f"real GTFS feed not found at {FEED}")

SCHOOL = """schools:
  - id: panhe-ms
    name: 盘河中学
"""


def test_a_shape_becomes_a_route_the_registry_loader_accepts(tmp_path: Path) -> None:
    out = tmp_path / "routes.yaml"
    code = main(["registry", "import-gtfs", str(FEED), "--route", "3T", "--shape", "3T:02", "--id", "pimmit-3t",
                 "--corridor-m", "120", "--speed-limit-kmh", "50", "--window", "06:30-08:30",
                 "--window", "15:00-17:30", "-o", str(out)])
    assert code == 0
    snippet = out.read_text(encoding="utf-8")
    text = SCHOOL + snippet + "buses:\n  - {id: bus-1, plate: 云C·1, school: panhe-ms, route: pimmit-3t}\n"
    reg = parse_registry(text, "registry.yaml")
    (route,) = reg.routes
    assert route.id == "pimmit-3t"
    assert route.corridor_m == 120 and route.speed_limit_kmh == 50
    assert [str(w) for w in route.windows] == ["06:30-08:30", "15:00-17:30"]
    assert route.timezone == "America/New_York"
    shape = read_shape(FEED, "3T:02")
    assert len(route.path) == len(shape)
    assert route.path[0] == pytest.approx(shape[0], abs=1e-6)
    assert route.path[-1] == pytest.approx(shape[-1], abs=1e-6)


def test_without_an_output_file_the_snippet_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "import-gtfs", str(FEED), "--route", "3T", "--shape", "3T:01"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    (route,) = doc["routes"]
    assert route["id"] == "3t" and route["corridor_m"] == 150 and route["speed_limit_kmh"] == 60
    assert "windows" not in route
    assert len(route["path"]) == len(read_shape(FEED, "3T:01"))


def test_a_route_with_two_shapes_needs_shape_and_the_error_names_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "import-gtfs", str(FEED), "--route", "3T"]) == 1
    err = capsys.readouterr().err
    assert "3T:01" in err and "3T:02" in err and "--shape" in err


def test_an_unknown_shape_or_route_or_a_bad_window_is_refused(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    out = tmp_path / "routes.yaml"
    assert main(["registry", "import-gtfs", str(FEED), "--route", "3T", "--shape", "S2:10", "-o", str(out)]) == 1
    assert "S2:10" in capsys.readouterr().err
    assert main(["registry", "import-gtfs", str(FEED), "--route", "NOPE", "--shape", "3T:01"]) == 1
    assert "NOPE" in capsys.readouterr().err
    assert main(["registry", "import-gtfs", str(FEED), "--route", "3T", "--shape", "3T:01",
                 "--window", "08:30-06:30"]) == 1
    assert "--window" in capsys.readouterr().err
    assert not out.exists()
