"""The registry parsed (and imported) in a child process: the same model, the same errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.registry import RegistryError
from monitor.registry_file import load_registry
from monitor.registry_loader import STORED, load_in_child
from monitor.storage.db import Database
from monitor.storage.registry_store import latest_registry_source
from monitor.tools.district import write_district


def test_the_child_gives_back_the_registry_the_parent_would_have_parsed_and_imports_it(tmp_path: Path) -> None:
    path = write_district(tmp_path / "registry.yaml")
    url = f"sqlite:///{tmp_path / 'campus.db'}"
    registry, imported = load_in_child(path, url)
    assert registry == load_registry(path)
    assert "changed=True" in imported
    db = Database(url)
    stored = latest_registry_source(db)
    db.dispose()
    assert stored is not None and stored[1] == path.read_text(encoding="utf-8")
    again, imported = load_in_child(path, url)
    assert "changed=False" in imported
    assert load_in_child(STORED, url)[0] == registry


def test_a_bad_registry_is_rejected_with_its_problems_and_nothing_imported(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text("schools:\n  - id: Bad_Id\n    name: x\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'campus.db'}"
    with pytest.raises(RegistryError) as err:
        load_in_child(path, url)
    assert err.value.problems and err.value.problems[0].line == 2
    with pytest.raises(RuntimeError, match="no registry"):
        load_in_child(STORED, url)
