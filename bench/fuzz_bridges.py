"""Fuzz the JT/T 808 and SIP parsers and the two bridges' message paths for a few minutes.

    python bench/fuzz_bridges.py [--seconds 240]

Runs the properties of tests/bridges/test_fuzz.py (hypothesis) round after round, splitting the time
between them, and prints the examples tried and the crashers found per property. A crasher's input is
written to bench/fuzz-crashers/ (hex): add it to CRASHERS_JT808 / CRASHERS_SIP in the test file.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.bridges import test_fuzz as f  # noqa: E402

PROPERTIES: list[tuple[str, Any, Callable[[Any], None]]] = [
    ("jt808 decode", f.jt808_frames(), f.check_jt808_decode),
    ("jt808 connection", st.lists(st.one_of(f.jt808_frames(), st.binary(max_size=50)), max_size=8), f.check_jt808_bridge),
    ("sip parse", f.sip_messages(), f.check_sip),
    ("gb28181 bridge", f.sip_messages(), f.check_gb_bridge),
    ("sip stream", st.lists(f.sip_messages(), max_size=5), f.check_sip_stream),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=240.0, help="total time, split between the properties")
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)  # the bridges log bad input; here all input is bad
    out_dir = ROOT / "bench" / "fuzz-crashers"
    share = args.seconds / len(PROPERTIES)
    total_crashers = 0
    for name, strategy, check in PROPERTIES:
        tried = 0
        crashers: list[bytes | list[bytes]] = []

        def make(check: Callable[[Any], None], found: list[Any]) -> Callable[[Any], None]:
            def run(data: Any) -> None:
                nonlocal tried
                tried += 1
                try:
                    check(data)
                except Exception:  # noqa: BLE001 - a crasher: keep it and go on
                    found.append(data)
            return run

        prop = settings(max_examples=2000, deadline=None, database=None, phases=[Phase.generate],
                        suppress_health_check=list(HealthCheck))(given(strategy)(make(check, crashers)))
        end = time.monotonic() + share
        while time.monotonic() < end:
            prop()
        for i, crasher in enumerate(crashers):
            out_dir.mkdir(exist_ok=True)
            raw = crasher if isinstance(crasher, bytes) else b"".join(crasher)
            (out_dir / f"{name.replace(' ', '-')}-{i}.hex").write_text(raw.hex() + "\n")
        total_crashers += len(crashers)
        print(f"{name:18s} {tried:9d} examples in {share:5.0f} s  {len(crashers)} crashers", flush=True)
    print(f"total crashers: {total_crashers}" + (f" (written to {out_dir})" if total_crashers else ""))
    return 1 if total_crashers else 0


if __name__ == "__main__":
    sys.exit(main())
