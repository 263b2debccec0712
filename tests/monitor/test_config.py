"""The TOML config (contract §7): defaults, strictness, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import Config, ConfigError, load_config, mask_url, parse_config, parse_listen

CONTRACT_EXAMPLE = """\
[mqtt]
url = "mqtt://127.0.0.1:1883"
[database]
url = "sqlite:///campus.db"
[http]
listen = "127.0.0.1:8080"
[tickets]
open_after_s = 600
verify_s = 300
reopen_after_s = 1800
[buses]
off_route_after_s = 60
off_route_fixes = 3
overspeed_after_s = 10
[alerts]
group_window_s = 10
[[receivers]]
kind = "webhook"
url = "http://127.0.0.1:9000/hook"
"""


def test_empty_config_means_every_default() -> None:
    cfg = parse_config("", "campus.toml")
    assert cfg.mqtt.url == "mqtt://127.0.0.1:1883"
    assert cfg.mqtt.topic_root == "campus"
    assert cfg.database.url == "sqlite:///campus.db"
    assert cfg.http.listen == "127.0.0.1:8080"
    assert (cfg.tickets.open_after_s, cfg.tickets.verify_s, cfg.tickets.reopen_after_s) == (600, 300, 1800)
    assert (cfg.buses.off_route_after_s, cfg.buses.off_route_fixes, cfg.buses.overspeed_after_s) == (60, 3, 10)
    assert cfg.alerts.group_window_s == 10
    assert cfg.receivers == ()
    assert cfg.source == "campus.toml"


def test_contract_example_gives_the_contract_values() -> None:
    cfg = parse_config(CONTRACT_EXAMPLE, "campus.toml")
    assert cfg.tickets.open_after_s == 600 and cfg.buses.off_route_fixes == 3
    assert [(r.kind, r.url) for r in cfg.receivers] == [("webhook", "http://127.0.0.1:9000/hook")]


def test_values_given_replace_defaults_and_leave_the_rest() -> None:
    cfg = parse_config(
        '[mqtt]\nurl = "mqtts://user:pw@broker.example:8883"\nprotocol = "5"\n'
        "[tickets]\nopen_after_s = 120.5\n[alerts]\ngroup_window_s = 0\n",
        "campus.toml",
    )
    assert (cfg.mqtt.url, cfg.mqtt.protocol, cfg.mqtt.topic_root) == ("mqtts://user:pw@broker.example:8883", "5", "campus")
    assert (cfg.tickets.open_after_s, cfg.tickets.verify_s) == (120.5, 300)
    assert cfg.alerts.group_window_s == 0  # 0 sends each change on its own


def test_whole_number_given_for_a_seconds_key_is_kept_as_seconds() -> None:
    cfg = parse_config("[tickets]\nverify_s = 60\n[database]\npersist_every_s = 2\n")
    assert cfg.tickets.verify_s == 60.0 and cfg.database.persist_every_s == 2.0


def test_several_receivers_are_parsed_once_and_kept_in_order() -> None:
    cfg = parse_config('[[receivers]]\nkind = "webhook"\nurl = "http://127.0.0.1:9000/hook"\n'
                       '[[receivers]]\nkind = "email"\nname = "mail"\nhost = "127.0.0.1"\nfrom = "m@b.c"\nto = ["a@b.c"]\n')
    assert [(r.kind, r.name) for r in cfg.receivers] == [("webhook", "webhook"), ("email", "mail")]


def test_a_bad_receiver_is_a_config_error_naming_the_file_and_the_key() -> None:
    with pytest.raises(ConfigError, match=r"campus.toml: \[\[receivers\]\] #1: url"):
        parse_config('[[receivers]]\nkind = "webhook"\n', "campus.toml")


ERRORS = [
    # (what, text, words the message must hold)
    ("unknown section", "[mqqt]\nurl = \"mqtt://x\"\n", ["campus.toml", "mqqt", "unknown section"]),
    ("unknown key", "[tickets]\nopen_after = 10\n", ["campus.toml", "tickets.open_after", "unknown key"]),
    ("unknown top-level key", "debug = true\n", ["campus.toml", "debug", "unknown section"]),
    ("section not a table", "mqtt = \"mqtt://x\"\n", ["campus.toml", "[mqtt]", "must be a table"]),
    ("string for a number", "[tickets]\nverify_s = \"300\"\n", ["campus.toml", "tickets.verify_s", "number"]),
    ("negative number", "[tickets]\nverify_s = -1\n", ["tickets.verify_s", ">= 0"]),
    ("bool for a number", "[buses]\noverspeed_after_s = true\n", ["buses.overspeed_after_s", "number"]),
    ("fraction for a count", "[buses]\noff_route_fixes = 2.5\n", ["buses.off_route_fixes", "whole number"]),
    ("fraction for keepalive", "[mqtt]\nkeepalive_s = 2.5\n", ["mqtt.keepalive_s", "whole number"]),
    ("number for a string", "[mqtt]\nurl = 1883\n", ["mqtt.url", "a string"]),
    ("string for a bool", "[http]\nmetrics_public = \"yes\"\n", ["http.metrics_public", "true or false"]),
    ("number for a bool", "[mqtt]\ninsecure = 1\n", ["mqtt.insecure", "true or false"]),
    ("table inside a section", "[mqtt.tls]\nca = \"x\"\n", ["mqtt.tls", "unknown key"]),
    ("http scheme for the broker", "[mqtt]\nurl = \"http://broker:1883\"\n", ["mqtt.url", "mqtt://"]),
    ("broker port out of range", "[mqtt]\nurl = \"mqtt://broker:99999\"\n", ["mqtt.url", "port"]),
    ("broker port not a number", "[mqtt]\nurl = \"mqtt://broker:mqtt\"\n", ["mqtt.url", "port"]),
    ("unknown MQTT protocol", "[mqtt]\nprotocol = \"4\"\n", ["mqtt.protocol"]),
    ("topic root of two levels", "[mqtt]\ntopic_root = \"a/b\"\n", ["mqtt.topic_root"]),
    ("empty topic root", "[mqtt]\ntopic_root = \"\"\n", ["mqtt.topic_root"]),
    ("unsupported database", "[database]\nurl = \"mysql://x/y\"\n", ["database.url"]),
    ("persisting never waiting", "[database]\npersist_every_s = 0\n", ["database.persist_every_s", "greater than 0"]),
    ("listen without a port", "[http]\nlisten = \"localhost\"\n", ["http.listen", "HOST:PORT"]),
    ("listen port too big", "[http]\nlisten = \"127.0.0.1:70000\"\n", ["http.listen"]),
    ("zero off-route fixes", "[buses]\noff_route_fixes = 0\n", ["buses.off_route_fixes", "at least 1"]),
    ("unknown language", "[alerts]\nlanguage = \"fr\"\n", ["alerts.language"]),
    ("receivers not tables", "receivers = [\"http://x\"]\n", ["receivers", "array of tables"]),
    ("not TOML", "[mqtt\nurl = 1\n", ["campus.toml", "TOML"]),
    ("duplicate key", "[mqtt]\nurl = \"mqtt://a\"\nurl = \"mqtt://b\"\n", ["campus.toml", "TOML"]),
]


@pytest.mark.parametrize(("what", "text", "words"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_config_is_an_error_naming_file_and_key(what: str, text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "campus.toml")
    message = str(caught.value)
    assert message.startswith("campus.toml: ")
    for word in words:
        assert word in message


def test_unknown_key_error_lists_the_allowed_keys() -> None:
    with pytest.raises(ConfigError, match=r"allowed: .*open_after_s.*reopen_after_s.*verify_s"):
        parse_config("[tickets]\nopen_afer_s = 1\n", "campus.toml")


# ---- files -------------------------------------------------------------------------------------


def test_no_config_path_means_all_defaults() -> None:
    assert load_config(None) == Config()


def test_missing_config_file_means_all_defaults(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "absent.toml")
    assert cfg.mqtt == Config().mqtt and cfg.tickets == Config().tickets


def test_config_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "campus.toml"
    path.write_text("[tickets]\nverify = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}: tickets.verify: unknown key"):
        load_config(path)


def test_config_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "campus.toml"
    path.write_bytes(b"[mqtt]\nurl = \"\xff\"\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)


# ---- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("127.0.0.1:8080", ("127.0.0.1", 8080)), (":9000", ("127.0.0.1", 9000)), ("[::1]:8080", ("::1", 8080)),
     ("0.0.0.0:0", ("0.0.0.0", 0))],
)
def test_listen_address_is_host_and_port(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["8080", "host:", "host:http", "host:65536", "host:-1"])
def test_bad_listen_address_is_an_error(value: str) -> None:
    with pytest.raises(ConfigError):
        parse_listen(value)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("mqtts://monitor:s3cret@broker:8883", "mqtts://monitor:***@broker:8883"),
        ("postgresql+psycopg://campus:pw@db/campus", "postgresql+psycopg://campus:***@db/campus"),
        ("mqtt://broker:1883", "mqtt://broker:1883"),
        ("mqtt://user@broker", "mqtt://user@broker"),
    ],
)
def test_passwords_are_masked_in_urls_for_logs(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_cluster_and_failover_keys() -> None:
    cfg = parse_config('[mqtt]\nfailover = ["mqtt://127.0.0.1:18832", "mqtt://127.0.0.1:18833"]\n'
                       '[database]\nurl = "postgresql+psycopg://u@h/db"\n'
                       '[cluster]\nnode = "node-a"\npartitions = 32\nlease_s = 10\n', "campus.toml")
    assert cfg.mqtt.failover == ("mqtt://127.0.0.1:18832", "mqtt://127.0.0.1:18833")
    assert (cfg.cluster.node, cfg.cluster.partitions, cfg.cluster.lease_s) == ("node-a", 32, 10.0)
    assert parse_config("", "c.toml").cluster.node == ""


@pytest.mark.parametrize(("text", "words"), [
    ('[cluster]\nnode = "node-a"\n', ["cluster.node", "SQLite"]),
    ('[database]\nurl = "postgresql+psycopg://u@h/db"\n[cluster]\nnode = "a b"\n', ["cluster.node"]),
    ("[cluster]\npartitions = 0\n", ["cluster.partitions"]),
    ("[cluster]\nlease_s = 1\n", ["cluster.lease_s"]),
    ('[mqtt]\nfailover = "mqtt://x:1"\n', ["mqtt.failover", "a list of strings"]),
    ('[mqtt]\nfailover = ["http://x:1"]\n', ["mqtt.failover[0]"]),
    ("[cluster]\nleader = 1\n", ["cluster.leader", "unknown key"]),
    ("[metrics]\nper_device = 1\n", ["metrics.per_device", "true or false"]),
])
def test_cluster_config_errors_name_the_key(text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "campus.toml")
    for w in words:
        assert w in str(err.value)
