"""The compose deployment: docker-compose accepts it, every service is there with a healthcheck, secrets
come from .env, and the monitor container's entrypoint writes a config the monitor accepts."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor.config import parse_config
from tests.services import require_binary

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
ENTRYPOINT = ROOT / "deploy/monitor/entrypoint.sh"
SERVICES = {"mosquitto", "postgres", "monitor", "prometheus", "alertmanager", "grafana"}


def compose_doc() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def run_compose(*args: str, env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    compose = require_binary("docker-compose", "docker-compose")
    base = [compose, "--project-directory", str(ROOT), "-f", str(COMPOSE)]
    if env_file is not None:
        base += ["--env-file", str(env_file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "POSTGRES_", "GRAFANA_"))}
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


def test_docker_compose_accepts_the_file_with_the_example_env():
    done = run_compose("config", env_file=ENV_EXAMPLE)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert SERVICES <= set(resolved["services"])
    url = resolved["services"]["monitor"]["environment"]["CAMPUS_MQTT_URL"]
    assert url == "mqtt://campus-monitor:change-me-monitor@mosquitto:1883"


def test_docker_compose_refuses_to_run_without_the_secrets(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    done = run_compose("config", env_file=empty)
    assert done.returncode != 0
    assert "in .env" in done.stderr


def test_every_long_running_service_has_a_healthcheck_and_named_volumes_for_its_data():
    doc = compose_doc()
    services = doc["services"]
    assert SERVICES <= set(services)
    for name in SERVICES:
        assert "test" in services[name].get("healthcheck", {}), name
        assert services[name].get("restart") == "unless-stopped", name
    named = set(doc["volumes"])
    for name, where in [("mosquitto", "/mosquitto/data"), ("postgres", "/var/lib/postgresql/data"),
                        ("prometheus", "/prometheus"), ("alertmanager", "/alertmanager"), ("grafana", "/var/lib/grafana")]:
        sources = [v.split(":")[0] for v in services[name]["volumes"] if v.split(":")[1] == where]
        assert sources and sources[0] in named, f"{name} keeps {where} in a named volume"
    assert services["simulator"]["profiles"] == ["simulator"]
    assert services["broker-config"]["profiles"] == ["setup"]


def test_every_secret_compose_requires_is_in_the_env_example():
    required = set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text(encoding="utf-8")))
    example = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
               if line and not line.startswith("#")}
    assert required and required <= example, required - example
    assert "MQTT_MONITOR_PASSWORD" in required and "POSTGRES_PASSWORD" in required


def test_the_broker_gets_the_acl_files_but_never_the_device_passwords():
    doc = compose_doc()
    mosquitto = doc["services"]["mosquitto"]
    assert "./broker:/mosquitto/auth-src:ro" in mosquitto["volumes"]
    command = doc["services"]["broker-config"]["command"]
    assert "--out=/out/broker" in command
    assert "--credentials=/out/secrets/mqtt-credentials.tsv" in command
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text(encoding="utf-8")
    assert re.search(r"^allow_anonymous false$", conf, re.M)
    assert re.search(r"^acl_file /mosquitto/auth/acl$", conf, re.M)


def test_prometheus_and_grafana_get_the_files_this_repository_ships():
    services = compose_doc()["services"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in services["alertmanager"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in services["grafana"]["volumes"]
    assert services["grafana"]["environment"]["PROMETHEUS_URL"] == "http://prometheus:9090"
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    (job,) = [j for j in prom["scrape_configs"] if j["job_name"] == "campus-monitor"]
    assert job["static_configs"][0]["targets"] == ["monitor:8080"]


@pytest.fixture
def shim(tmp_path: Path) -> Path:
    """A `campus-monitor` on PATH that prints its arguments and the config file it was given."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "campus-monitor"
    fake.write_text('#!/bin/sh\necho "ARGS $*"\necho "MODE $(stat -c %a "$CAMPUS_CONFIG")"\ncat "$CAMPUS_CONFIG"\n',
                    encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return bindir


def entrypoint(shim: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {"PATH": f"{shim}:{os.environ['PATH']}", "CAMPUS_CONFIG": str(tmp_path / "campus.toml"),
            "CAMPUS_CONFIG_EXTRA": str(ROOT / "deploy/monitor/campus.toml"), **env}
    return subprocess.run(["sh", str(ENTRYPOINT), *args], capture_output=True, text=True, env=full, timeout=30)


@pytest.mark.skipif(sys.platform != "linux", reason="GNU stat")
def test_the_entrypoint_writes_a_config_the_monitor_accepts_from_the_environment(shim, tmp_path):
    done = entrypoint(shim, tmp_path, "run", "--registry", "/etc/campus/registry.yaml",
                      CAMPUS_MQTT_URL="mqtt://campus-monitor:abc123@mosquitto:1883",
                      CAMPUS_DATABASE_URL="postgresql+psycopg://campus:def456@postgres:5432/campus")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"ARGS run --config {tmp_path / 'campus.toml'} --registry /etc/campus/registry.yaml"
    assert lines[1] == "MODE 600"  # it holds passwords
    cfg = parse_config("\n".join(lines[2:]), "entrypoint")
    assert cfg.mqtt.url == "mqtt://campus-monitor:abc123@mosquitto:1883"
    assert cfg.database.url.endswith("@postgres:5432/campus")
    assert cfg.http.listen == "0.0.0.0:8080"
    assert [r.kind for r in cfg.receivers] == ["alertmanager"]


def test_the_entrypoint_adds_the_config_only_where_a_command_reads_it(shim, tmp_path):
    token = entrypoint(shim, tmp_path, "token", "create", "--role", "bureau")
    assert token.stdout.splitlines()[0] == f"ARGS token create --config {tmp_path / 'campus.toml'} --role bureau"
    other = entrypoint(shim, tmp_path, "broker-config", "--registry", "r.yaml", "--out", "/b")
    assert other.stdout.splitlines()[0] == "ARGS broker-config --registry r.yaml --out /b"


def test_the_entrypoint_refuses_a_url_that_would_break_the_toml(shim, tmp_path):
    done = entrypoint(shim, tmp_path, "run", CAMPUS_MQTT_URL='mqtt://u:pa"ss@mosquitto:1883')
    assert done.returncode == 2
    assert "hex passwords" in done.stderr
