"""Contract §2 payloads, built with orjson: exactly the keys the contract names, `ts` in Unix seconds."""

from __future__ import annotations

import orjson


def heartbeat(ts: float, status: str = "ok", channels: dict[str, str] | None = None) -> bytes:
    doc: dict[str, object] = {"ts": round(ts, 3), "status": status}
    if channels is not None:
        doc["channels"] = channels
    return orjson.dumps(doc)


def fix(ts: float, lat: float, lon: float, speed_kmh: float | None, heading: float | None) -> bytes:
    doc: dict[str, object] = {"ts": round(ts, 3), "lat": lat, "lon": lon}
    if speed_kmh is not None:
        doc["speed_kmh"] = speed_kmh
    if heading is not None:
        doc["heading"] = heading
    return orjson.dumps(doc)


def event(ts: float, event_id: str, kind: str = "press") -> bytes:
    return orjson.dumps({"ts": round(ts, 3), "event_id": event_id, "type": kind})
