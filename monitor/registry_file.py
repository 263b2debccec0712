"""The registry from a file: the edge's side of `devices.registry`, which reads no files itself.

The registry's text is read here, and so are the files it names (`geojson:` routes), relative to the
registry file's own directory unless absolute.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devices.model import Registry
from devices.registry import Problem, RegistryError, parse_registry


def read_beside(registry_path: str | Path) -> Callable[[str], str]:
    """A `read_file` for `parse_registry`: names are resolved against the registry file's directory."""
    base = Path(registry_path).parent

    def read(name: str) -> str:
        path = Path(name)
        return (path if path.is_absolute() else base / path).read_text(encoding="utf-8")

    return read


def load_registry(path: str | Path) -> Registry:
    """Read and parse the registry file at `path`; any problem, reading included, is a RegistryError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError([Problem(str(p), 0, "", f"cannot read the registry: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise RegistryError([Problem(str(p), 0, "", "not UTF-8 text")]) from None
    return parse_registry(text, str(p), read_beside(p))
