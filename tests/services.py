"""Real programs the tests drive, found or the test fails.

CI installs every one of them (`scripts/test` apt-installs scripts/system-packages.txt and pip-installs
the test extras), so a missing one means a broken machine, and a skip would hide it. Only tests that
need data from outside the repository (../shared/data) skip when it is absent.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest


def require_binary(name: str, debian_package: str, *, also: tuple[str, ...] = ()) -> str:
    """The path of program `name` (or of one of `also`: other names or absolute paths), or fail the test."""
    for candidate in (name, *also):
        if os.path.isabs(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
        elif found := shutil.which(candidate):
            return found
    tried = ", ".join((name, *also))
    pytest.fail(f"{name} is not installed (looked for {tried}): install the Debian package {debian_package} "
                "(scripts/test installs every package in scripts/system-packages.txt)", pytrace=False)


def require_module(module: str, distribution: str) -> ModuleType:
    """Python module `module` (from the test extras), or fail the test."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"{module} cannot be imported ({exc}): install the test extras, pip install '.[test]' "
                    f"(they include {distribution}; scripts/test installs them)", pytrace=False)


def require_tool(name: str, distribution: str) -> str:
    """A console script installed next to this Python (a test extra such as schemathesis), or fail the test."""
    exe = Path(sys.executable).parent / name
    if not exe.is_file():
        pytest.fail(f"{name} is not installed next to {sys.executable}: install the test extras, "
                    f"pip install '.[test]' (they include {distribution}; scripts/test installs them)", pytrace=False)
    return str(exe)
