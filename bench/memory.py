"""bench/memory: live Python memory per registered device, by part, measured with tracemalloc.

    python bench/memory.py [--devices 200000]

Counts what stays allocated for the devices once loaded (registry model, judge with liveness and
coverage, the collector's topic index), not allocator residue: `bench/ingest.py` prints the process
RSS view of the same thing.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", type=int, default=200_000)
    n = p.parse_args().devices
    from devices.judge import Judge
    from devices.registry import parse_registry
    from monitor.config import MqttConfig
    from monitor.mqtt.collector import Collector
    from monitor.tools.district import dump_registry, synthetic_registry

    text = dump_registry(synthetic_registry(n))
    tracemalloc.start()
    registry = parse_registry(text, "synthetic.yaml")
    del text
    gc.collect()
    a = tracemalloc.get_traced_memory()[0]
    judge = Judge(registry)
    gc.collect()
    b = tracemalloc.get_traced_memory()[0]
    collector = Collector(MqttConfig(), judge, None)  # type: ignore[arg-type]
    gc.collect()
    c, peak = tracemalloc.get_traced_memory()
    print(f"{n:,} devices, live bytes per device: registry {a / n:.0f}, judge {(b - a) / n:.0f}, "
          f"collector index {(c - b) / n:.0f}, total {c / n:.0f} (target < 1024); "
          f"peak while loading {peak / 2**20:.0f} MiB")
    assert collector is not None
    return 0


if __name__ == "__main__":
    sys.exit(main())
