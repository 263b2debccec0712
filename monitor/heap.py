"""Giving the heap's free pages back to the system.

CPython frees small objects into its own arenas and larger ones to the C allocator; glibc keeps freed
chunks in the middle of its heap mapped (only the top is returned on its own). After the start (the
judge's maps built, every device's first state written) and after bursts (a storm of state changes),
that residue stays counted in RSS: with 200,000 devices about 400 bytes a device beside 660 bytes
of live objects. `malloc_trim(0)` returns those free pages (madvise), moves nothing and keeps every
live object where it is. It is a glibc function: elsewhere (musl, macOS) `trim` does nothing.
ctypes lets go of the GIL during the call, so it runs on a worker thread without holding the loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from functools import cache

log = logging.getLogger(__name__)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        fn = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


def trim() -> bool:
    """Return the C heap's free pages to the system; True when there was something to return."""
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False
