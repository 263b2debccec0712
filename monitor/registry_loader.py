"""Loading a large registry without keeping its peak: parse (and import) in a short-lived child process.

Parsing a YAML registry builds a node tree and plain dicts many times the size of the registry
model; CPython's allocator keeps most of that peak after it is freed (arenas are returned only
when wholly empty), so a monitor that parsed 200,000 devices itself held about 2.4 KiB of RSS per
device for its life, where the live objects need under 1 KiB. Here a child process (a fresh interpreter,
`python -m monitor.registry_loader`, so it shares nothing) reads and checks the file, imports it into the database (the diff against the
stored rows is the other large peak), and hands back the registry model pickled; the parent builds
only the live objects from that, and the pickle's single buffer goes back to the system at once.

Errors come back as values (a `RegistryError` or a `DatabaseError` message), never half a result.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from devices.model import Registry
from devices.registry import Problem, RegistryError
from monitor.config import mask_url


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the child sends back: the registry pickled, what the import did, or what went wrong."""

    registry: bytes = b""
    imported: str = ""
    problems: tuple[Problem, ...] = ()
    error: str = ""


STORED = "-"  # `path` for the registry last imported into the database


def _load(path: str, database_url: str | None) -> Loaded:
    from devices.registry import parse_registry
    from monitor.registry_file import load_registry, read_beside

    try:
        if path == STORED:
            from monitor.storage.db import Database
            from monitor.storage.registry_store import latest_registry_source

            assert database_url is not None
            db = Database(database_url)
            db.migrate()
            stored = latest_registry_source(db)
            db.dispose()
            if stored is None:
                return Loaded(error="no registry: pass --registry FILE or run `campus-monitor registry import FILE` first")
            return Loaded(registry=pickle.dumps(parse_registry(stored[1], stored[0], read_beside(stored[0])),
                                                protocol=pickle.HIGHEST_PROTOCOL))
        registry = load_registry(path)
    except RegistryError as exc:
        return Loaded(problems=tuple(exc.problems))
    except Exception as exc:  # noqa: BLE001 - the database; reported to the parent
        return Loaded(error=f"{mask_url(database_url or '')}: {exc}")
    imported = ""
    if database_url is not None:
        from monitor.storage.db import Database
        from monitor.storage.registry_store import import_registry

        try:
            db = Database(database_url)
            db.migrate()
            text = Path(path).read_text(encoding="utf-8")
            imported = str(import_registry(db, registry, text, str(Path(path).resolve())))
            db.dispose()
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops with it
            return Loaded(error=f"{mask_url(database_url)}: {exc}")
    return Loaded(registry=pickle.dumps(registry, protocol=pickle.HIGHEST_PROTOCOL), imported=imported)


def load_in_child(path: str | Path, database_url: str | None = None) -> tuple[Registry, str]:
    """The registry file at `path` (or the one stored in `database_url` when `path` is `STORED`),
    parsed in a child process, and imported into `database_url` when given; what the import did,
    as text. Raises `RegistryError`, or `RuntimeError` for a
    database failure or a child that died."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    args = [sys.executable, "-m", "monitor.registry_loader", str(path), *([database_url] if database_url else [])]
    done = subprocess.run(args, capture_output=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"loading the registry {path} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    loaded = pickle.loads(done.stdout)
    del done
    assert isinstance(loaded, Loaded)
    if loaded.problems:
        raise RegistryError(list(loaded.problems))
    if loaded.error:
        raise RuntimeError(loaded.error)
    registry = pickle.loads(loaded.registry)
    assert isinstance(registry, Registry)
    return registry, loaded.imported


if __name__ == "__main__":
    from monitor import registry_loader  # the classes pickled under their module's name, not __main__

    sys.stdout.buffer.write(pickle.dumps(registry_loader._load(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None),
                                         protocol=pickle.HIGHEST_PROTOCOL))
