"""`campus-monitor broker-config`: Mosquitto password and ACL files from the registry.

Every device gets its own account, named after its topic (`{school}/{segment}/{id}`, e.g.
`panhe-ms/camera/cam-dg-01`), that may publish only under its own topic `campus/{school}/{segment}/{id}/#`
and read nothing. The monitor's account may read the device topics `campus/+/+/+/+` and write only its
own status `campus/_monitor/status`; its events connection logs in as `<monitor>-events` (same
password), which may read only the event topics. Anonymous clients are refused by
`deploy/mosquitto/mosquitto.conf`.

The bridges (docs/bridges.md) log in as `campus-bridge-jt808`, `campus-bridge-gb28181` and
`campus-bridge-rtsp` (one account each, as client ids are usernames; one password, `campus-bridge`'s),
each allowed to publish only the topics of the registry devices it speaks for (buses with a
`terminal`; NVRs and cameras with a `gb_id`; cameras with an `rtsp` URL), one
`campus/{school}/{segment}/{id}/+` line per device, and its own status `campus/_bridge/{name}/status`.
`campus-bridge` itself may publish for every registry device (one bridge process of any kind, or
tools) and every bridge status. No bridge account reads anything or can write the monitor's status.

Client ids belong to accounts: `mosquitto.conf` (lines to add after the `listener` line devices use)
sets `use_username_as_clientid true`, so every client's id is its username. A device account can then
never connect as `campus-monitor` or `campus-monitor-events`, so it can neither push the monitor off
the broker nor take or wipe its persistent session (with the presses queued in it). Device usernames
hold two `/`, the monitor's none, so no device name is ever one of the monitor's.

Files written to `--out DIR`:

- `passwd`: Mosquitto 2 password file (`user:$7$101$salt$hash`, PBKDF2-HMAC-SHA512, what
  `mosquitto_passwd` writes), mode 0644: salted hashes, no secrets;
- `acl`: Mosquitto ACL file, mode 0644;
- `credentials.tsv` (or `--credentials FILE`): the plain passwords (`username, password, topic` per
  line; the first row is the monitor's account) for provisioning the devices and the monitor, mode
  0600. Keep it out of the broker's reach;
- `mosquitto.conf`: the lines to add to the broker's config (which names `passwd` and `acl` itself).

Running it again keeps the passwords of accounts that are still in the registry (read back from
the credentials file), makes new ones for new devices and drops removed devices; `--rotate` makes every
password new. The monitor's, the bridges' and the simulator's passwords may be taken from the environment
(`--monitor-password-env VAR`, `--bridge-password-env VAR`, `--simulator-password-env VAR`), as
docker-compose.yml does.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import logging
import os
import secrets
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devices.model import TOPIC_SEGMENT, Registry
from devices.registry import RegistryError
from monitor.registry_file import load_registry

log = logging.getLogger(__name__)

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's own count for `$7$`
SALT_BYTES = 12
PASSWORD_BYTES = 18  # 24 URL-safe characters
CREDENTIALS = "credentials.tsv"
EVENTS_SUFFIX = "-events"  # the monitor's events connection (monitor.mqtt.collector.EVENTS_SUFFIX)
BROKER_LINES = """\
# Lines for Mosquitto's config from `campus-monitor broker-config`: put them after the `listener` line
# the devices connect to (the config names password_file and acl_file itself).
# Every client's id is its username: no device account can take the monitor's client ids
# (campus-monitor, campus-monitor-events) or disturb its persistent session.
use_username_as_clientid true
"""


@dataclass(frozen=True, slots=True)
class Account:
    """One broker login and what it may do."""

    username: str
    password: str
    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    readwrite: tuple[str, ...] = ()
    shown: str = ""  # the topic shown in the credentials file, when not its first rule

    @property
    def topic(self) -> str:
        """The topic this account is for, shown in the credentials file."""
        return self.shown or (self.write or self.readwrite or self.read or ("",))[0]


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A Mosquitto 2 `$7$` hash: PBKDF2-HMAC-SHA512 over the password with a random 12-byte salt."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    """Whether `password` matches a `$7$` hash (as Mosquitto checks it)."""
    try:
        _, seven, iterations, salt, digest = hashed.split("$")
    except ValueError:
        return False
    if seven != "7":
        return False
    expected = hash_password(password, base64.b64decode(salt), int(iterations))
    return secrets.compare_digest(expected.rsplit("$", 1)[1], digest)


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def device_username(school: str, segment: str, device: str) -> str:
    return f"{school}/{segment}/{device}"


def accounts(registry: Registry, *, monitor_user: str = "campus-monitor", topic_root: str = "campus",
             known: dict[str, str] | None = None, monitor_password: str | None = None,
             simulator_user: str | None = None, simulator_password: str | None = None,
             bridge_user: str | None = "campus-bridge", bridge_password: str | None = None) -> list[Account]:
    """Every account the broker needs: the monitor's, the bridges' (unless `bridge_user` is empty), one
    per device, and the simulator's if asked for.

    `known` maps usernames to passwords to keep; everyone else gets a new random password.
    """
    known = known or {}
    root = topic_root.strip("/")

    def password(user: str) -> str:
        return known.get(user) or new_password()

    monitor_pw = monitor_password or password(monitor_user)
    out = [Account(monitor_user, monitor_pw, read=(f"{root}/+/+/+/+",), readwrite=(f"{root}/_monitor/status",)),
           Account(monitor_user + EVENTS_SUFFIX, monitor_pw, read=(f"{root}/+/+/+/event",))]
    if simulator_user:
        out.append(Account(simulator_user, simulator_password or password(simulator_user), write=(f"{root}/+/+/+/#",)))
    if bridge_user:
        out.extend(bridge_accounts(registry, bridge_user, bridge_password or password(bridge_user), root))
    taken = {a.username for a in out}
    for spec in registry.devices():
        segment = TOPIC_SEGMENT[spec.kind]
        user = device_username(spec.school, segment, spec.id)
        if user in taken:
            raise ValueError(f"broker account {user!r} is used twice")
        taken.add(user)
        out.append(Account(user, password(user), write=(f"{root}/{spec.school}/{segment}/{spec.id}/#",)))
    return out


BRIDGES = ("jt808", "gb28181", "rtsp")


def bridge_accounts(registry: Registry, user: str, password: str, root: str) -> list[Account]:
    """`user` for every registry device, and `user-{bridge}` for the devices that bridge speaks for,
    all with one password; each may write its devices' topics and its status."""
    def lines(specs: Iterable[tuple[str, str, str]]) -> tuple[str, ...]:
        return tuple(f"{root}/{school}/{segment}/{dev}/+" for school, segment, dev in specs)

    every = [(d.school, TOPIC_SEGMENT[d.kind], d.id) for d in registry.devices()]
    spoken: dict[str, list[tuple[str, str, str]]] = {
        "jt808": [(b.school, "bus", b.id) for b in registry.buses if b.terminal],
        "gb28181": [(s.id, "nvr", n.id) for s in registry.schools for n in s.nvrs if n.gb_id]
        + [(s.id, "camera", c.id) for s in registry.schools for c in s.cameras if c.gb_id],
        "rtsp": [(s.id, "camera", c.id) for s in registry.schools for c in s.cameras if c.rtsp],
    }
    out = [Account(user, password, write=(*lines(every), f"{root}/_bridge/+/status"), shown=f"{root}/+/+/+/+")]
    for name in BRIDGES:
        out.append(Account(f"{user}-{name}", password, write=(*lines(spoken[name]), f"{root}/_bridge/{name}/status"),
                           shown=f"{root}/_bridge/{name}/status"))
    return out


def password_file(items: Iterable[Account]) -> str:
    return "".join(f"{a.username}:{hash_password(a.password)}\n" for a in items)


def acl_file(items: Iterable[Account]) -> str:
    lines = ["# Generated by `campus-monitor broker-config`; edit the registry, not this file.",
             "# No rule outside a `user` block: an account may do only what its block says."]
    for a in items:
        lines.append("")
        lines.append(f"user {a.username}")
        lines.extend(f"topic read {t}" for t in a.read)
        lines.extend(f"topic write {t}" for t in a.write)
        lines.extend(f"topic readwrite {t}" for t in a.readwrite)
    return "\n".join(lines) + "\n"


def credentials_file(items: Iterable[Account]) -> str:
    lines = ["# username\tpassword\ttopic"]
    lines.extend(f"{a.username}\t{a.password}\t{a.topic}" for a in items)
    return "\n".join(lines) + "\n"


def read_credentials(path: Path) -> dict[str, str]:
    """Usernames and passwords from an earlier `credentials.tsv` (empty when there is none)."""
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0] and parts[1]:
            out[parts[0]] = parts[1]
    return out


def _write(path: Path, text: str, mode: int) -> None:
    """Write through a temporary file created with `mode`, so a secret is never readable by others."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    os.chmod(tmp, mode)  # the umask may have taken bits away
    os.replace(tmp, path)


def write_broker_config(registry: Registry, out: Path, *, monitor_user: str = "campus-monitor",
                        topic_root: str = "campus", rotate: bool = False, monitor_password: str | None = None,
                        simulator_user: str | None = None, simulator_password: str | None = None,
                        bridge_user: str | None = "campus-bridge", bridge_password: str | None = None,
                        credentials: Path | None = None) -> list[Account]:
    """Write `passwd` and `acl` into `out` and the passwords to `credentials` (default
    `out/credentials.tsv`); return the accounts."""
    credentials = credentials or out / CREDENTIALS
    out.mkdir(parents=True, exist_ok=True)
    credentials.parent.mkdir(parents=True, exist_ok=True)
    known = {} if rotate else read_credentials(credentials)
    items = accounts(registry, monitor_user=monitor_user, topic_root=topic_root, known=known,
                     monitor_password=monitor_password, simulator_user=simulator_user,
                     simulator_password=simulator_password, bridge_user=bridge_user,
                     bridge_password=bridge_password)
    _write(credentials, credentials_file(items), 0o600)
    _write(out / "passwd", password_file(items), 0o644)
    _write(out / "acl", acl_file(items), 0o644)
    _write(out / "mosquitto.conf", BROKER_LINES, 0o644)
    kept = sum(1 for a in items if known.get(a.username) == a.password)
    log.info("broker config in %s: %d accounts (%d kept, %d new)", out, len(items), kept, len(items) - kept)
    return items


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="campus-monitor broker-config",
                                description="Write Mosquitto password and ACL files from the registry.")
    p.add_argument("--registry", required=True, help="registry YAML")
    p.add_argument("--out", required=True, help="directory for passwd, acl and credentials.tsv")
    p.add_argument("--monitor-user", default="campus-monitor", help="the monitor's broker account")
    p.add_argument("--monitor-password-env", metavar="VAR",
                   help="take the monitor's password from this environment variable instead of making one")
    p.add_argument("--bridge-user", default="campus-bridge",
                   help="the bridges' account, which may publish for every registry device ('' for none)")
    p.add_argument("--bridge-password-env", metavar="VAR",
                   help="take the bridges' password from this environment variable")
    p.add_argument("--simulator-user", help="also an account that may publish as every device (demos only)")
    p.add_argument("--simulator-password-env", metavar="VAR",
                   help="take the simulator's password from this environment variable")
    p.add_argument("--credentials", metavar="FILE", help="where the passwords go (default: OUT/credentials.tsv)")
    p.add_argument("--topic-root", default="campus", help="the topic root ([mqtt] topic_root)")
    p.add_argument("--rotate", action="store_true", help="new passwords for every account")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        registry = load_registry(args.registry)
    except RegistryError as exc:
        print(f"campus-monitor broker-config: {exc}", file=sys.stderr)
        return 1
    env_passwords: dict[str, str | None] = {}
    for who, var in (("monitor", args.monitor_password_env), ("bridge", args.bridge_password_env),
                     ("simulator", args.simulator_password_env)):
        env_passwords[who] = os.environ.get(var) if var else None
        if var and not env_passwords[who]:
            print(f"campus-monitor broker-config: ${var} is not set", file=sys.stderr)
            return 1
    if args.simulator_password_env and not args.simulator_user:
        print("campus-monitor broker-config: --simulator-password-env needs --simulator-user", file=sys.stderr)
        return 1
    root = args.topic_root.strip("/")
    if not root or "/" in root or "+" in root or "#" in root:
        print(f"campus-monitor broker-config: --topic-root {args.topic_root!r} must be one topic level",
              file=sys.stderr)
        return 1
    if args.bridge_password_env and not args.bridge_user:
        print("campus-monitor broker-config: --bridge-password-env needs a --bridge-user", file=sys.stderr)
        return 1
    if any(u and ":" in u for u in (args.monitor_user, args.bridge_user, args.simulator_user)):
        print("campus-monitor broker-config: a user name may not contain ':'", file=sys.stderr)
        return 1
    out = Path(args.out)
    credentials = Path(args.credentials) if args.credentials else out / CREDENTIALS
    items = write_broker_config(registry, out, monitor_user=args.monitor_user, topic_root=root,
                                rotate=args.rotate, monitor_password=env_passwords["monitor"],
                                simulator_user=args.simulator_user, simulator_password=env_passwords["simulator"],
                                bridge_user=args.bridge_user, bridge_password=env_passwords["bridge"],
                                credentials=credentials)
    devices = sum(1 for a in items if a.username.count("/") == 2)
    bridge = f" and the bridges ({args.bridge_user}, {args.bridge_user}-{{jt808,gb28181,rtsp}})" if args.bridge_user else ""
    print(f"{out}: passwd, acl and mosquitto.conf for {devices} devices, the monitor ({args.monitor_user}){bridge}; "
          f"passwords in {credentials} (mode 0600)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
