"""monitor.heap: the C heap's free pages in the middle of the heap go back to the system."""

from __future__ import annotations

from pathlib import Path

from monitor import heap


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_trim_returns_freed_pages_that_a_live_object_above_them_keeps_mapped() -> None:
    # 64 MiB in 4 KiB chunks from malloc (past pymalloc's 512 bytes), every 64th kept alive: the heap
    # cannot shrink from its top, so glibc keeps the freed 63/64 mapped until trimmed
    chunks = [bytearray(4096) for _ in range(16384)]
    for c in chunks:
        c[::512] = b"\x01" * 8  # touch every page
    kept = chunks[::64]
    del chunks
    before = rss_bytes()
    assert heap.trim()
    after = rss_bytes()
    assert before - after > 32 * 2**20, f"RSS {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB"
    assert all(c[0] == 1 for c in kept)  # the live ones are untouched
