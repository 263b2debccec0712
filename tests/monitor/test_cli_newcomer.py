"""What a newcomer meets at the command line: one plain line for each mistake, every unknown config key
at once, and no token made in a database nobody runs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import ConfigError, parse_config
from tests.registries import SMALL_REGISTRY


def test_token_create_refuses_a_config_file_that_does_not_exist_and_makes_no_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["token", "create", "--role", "bureau", "--config", "campsu.toml"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == "campus-monitor: config file campsu.toml does not exist; pass the monitor's own --config"
    assert list(tmp_path.iterdir()) == []


def test_every_unknown_config_key_is_reported_at_once_one_line_each() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[http]\nlisen = "127.0.0.1:1"\n[mqtt]\nurll = "mqtt://x"\n[tickets]\nopen_after_s = "soon"\n',
                     "campus.toml")
    lines = str(caught.value).splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["http.lisen", "mqtt.urll", "tickets.open_after_s"]
    assert all(line.startswith("campus.toml: ") for line in lines)


def test_a_missing_registry_file_stops_run_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--config", str(tmp_path / "campus.toml"), "--registry", str(tmp_path / "registy.yaml")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == f"campus-monitor: {tmp_path / 'registy.yaml'}: cannot read the registry: No such file or directory"


def test_a_taken_http_port_stops_run_with_one_line_and_no_traceback(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "campus.toml"
        config.write_text(f'[http]\nlisten = "127.0.0.1:{port}"\n[database]\nurl = "sqlite:///{tmp_path}/campus.db"\n'
                          '[mqtt]\nurl = "mqtt://127.0.0.1:1"\n', encoding="utf-8")
        registry = tmp_path / "registry.yaml"
        registry.write_text(SMALL_REGISTRY, encoding="utf-8")
        code = main(["run", "--config", str(config), "--registry", str(registry)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"campus-monitor: cannot serve HTTP on 127.0.0.1:{port}: the address is already in use" in err
    assert "Traceback" not in err
