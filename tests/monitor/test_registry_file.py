"""The edge's registry file helper: reads the registry and the GeoJSON files beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devices.registry import Problem, RegistryError
from monitor.registry_file import load_registry, read_beside

LINE = {"type": "LineString", "coordinates": [[103.7171, 27.3382], [103.7204, 27.3417]]}


def test_load_registry_reads_the_file_and_finds_geojson_beside_it(tmp_path: Path) -> None:
    (tmp_path / "r1.geojson").write_text(json.dumps(LINE), encoding="utf-8")
    path = tmp_path / "district.yaml"
    path.write_text("schools:\n  - {id: panhe-ms, name: 盘河中学}\nroutes:\n  - {id: r1, geojson: r1.geojson}\n",
                    encoding="utf-8")
    reg = load_registry(path)
    assert reg.routes[0].path == ((103.7171, 27.3382), (103.7204, 27.3417))
    assert reg.schools[0].name == "盘河中学"


def test_read_beside_takes_absolute_names_as_they_are(tmp_path: Path) -> None:
    elsewhere = tmp_path / "shapes" / "r1.geojson"
    elsewhere.parent.mkdir()
    elsewhere.write_text("{}", encoding="utf-8")
    assert read_beside(tmp_path / "conf" / "district.yaml")(str(elsewhere)) == "{}"


def test_missing_geojson_beside_the_registry_is_an_error_on_its_key(tmp_path: Path) -> None:
    path = tmp_path / "district.yaml"
    path.write_text("routes:\n  - id: r1\n    geojson: r1.geojson\n", encoding="utf-8")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    [p] = caught.value.problems
    assert (p.line, p.key) == (3, "routes[0].geojson") and "cannot read r1.geojson" in p.reason


def test_load_registry_errors_name_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "district.yaml"
    path.write_text("schools:\n  - id: a\n    colour: red\n", encoding="utf-8")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert caught.value.problems == [Problem(str(path), 3, "schools[0].colour", caught.value.problems[0].reason)]


@pytest.mark.parametrize(("content", "reason"), [(None, "cannot read"), (b"schools: \xff\xfe\n", "not UTF-8")])
def test_unreadable_registry_file_is_a_registry_error(tmp_path: Path, content: bytes | None, reason: str) -> None:
    path = tmp_path / "district.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    [p] = caught.value.problems
    assert p.file == str(path) and reason in p.reason


def test_a_missing_registry_file_is_one_plain_line_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as caught:
        load_registry(tmp_path / "registy.yaml")
    assert str(caught.value) == f"{tmp_path / 'registy.yaml'}: cannot read the registry: No such file or directory"
