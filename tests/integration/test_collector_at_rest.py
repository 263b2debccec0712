"""The monitor's MQTT edge at rest: no busy loop on a writable socket (it once spun at half a core)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.service import Device, make_app
from tests.waiting import let_time_pass, wait_for

pytestmark = pytest.mark.integration


async def test_the_collector_at_rest_is_not_called_for_a_writable_socket(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    app = make_app(mosquitto[1], tmp_path)
    client = app.collector._client
    real_loop_write = client.loop_write
    calls = [0]

    def counting() -> Any:
        calls[0] += 1
        return real_loop_write()

    client.loop_write = counting  # type: ignore[method-assign]
    await app.start()
    dev = Device(mosquitto[1])
    try:
        await wait_for(lambda: app.collector.connected, 5)
        dev.send("campus/panhe-ms/alarm/alarm-gate/event", {"ts": 1, "event_id": "e-1", "type": "test"})  # acked: a write
        await let_time_pass(0.3)
        calls[0] = 0
        await let_time_pass(0.5)  # at rest
        assert calls[0] <= 2, f"loop_write called {calls[0]} times in 0.5 s with nothing to write"
    finally:
        dev.close()
        await app.stop()
