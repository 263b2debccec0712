"""Route geometry: a route's polyline in a local metric frame, distance to it and progress along it.

Each route gets its own azimuthal equidistant projection centred on the middle of its bounding box
(pyproj, WGS84 ellipsoid), so distances near the route are true to well under a metre for routes
tens of kilometres long. The polyline is kept as a few numpy arrays (segment starts, directions and
cumulative length); a fix is matched against the segments in a window of progress around where the
bus last was, with one vectorised pass, and against the whole line only when that window finds
nothing. A `RouteLine` is immutable and shared by every bus on the route.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pyproj import CRS, Transformer

from devices.model import Route

#: A point this close beyond the corridor edge still counts as on it (absorbs float round-off).
EDGE_TOLERANCE_M = 1e-3


@dataclass(frozen=True, slots=True)
class Match:
    """Where a point falls on a route: its distance to the line and the progress of its foot."""

    distance_m: float
    progress_m: float
    segment: int


class LocalProjection:
    """Metres east and north of a centre point (azimuthal equidistant, WGS84)."""

    __slots__ = ("lon0", "lat0", "_fwd", "_inv")

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0 = lon0
        self.lat0 = lat0
        crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +datum=WGS84 +units=m +no_defs")
        self._fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._inv = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def forward(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self._fwd.transform(lon, lat)
        return float(x), float(y)

    def forward_many(self, lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._fwd.transform(lons, lats)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def inverse(self, x: float, y: float) -> tuple[float, float]:
        lon, lat = self._inv.transform(x, y)
        return float(lon), float(lat)


class RouteLine:
    """A route's polyline, projected; answers distance-to-line and progress-along-line queries."""

    __slots__ = ("projection", "length_m", "_seg", "_za", "_zd", "_w", "_cum", "_nseg", "_max_seg")

    def __init__(self, path: Sequence[tuple[float, float]]) -> None:
        """`path` is (lon, lat) pairs, WGS84, at least two distinct points."""
        if len(path) < 2:
            raise ValueError("a route needs at least two points")
        lons = np.array([p[0] for p in path], dtype=np.float64)
        lats = np.array([p[1] for p in path], dtype=np.float64)
        if not (np.isfinite(lons).all() and np.isfinite(lats).all()):
            raise ValueError("route points must be finite numbers")
        self.projection = LocalProjection(
            float((lons.min() + lons.max()) / 2), float((lats.min() + lats.max()) / 2)
        )
        x, y = self.projection.forward_many(lons, lats)
        dx = np.diff(x)
        dy = np.diff(y)
        len2 = dx * dx + dy * dy
        seg_len = np.sqrt(len2)
        if not (seg_len > 0).any():
            raise ValueError("a route needs at least two distinct points")
        with np.errstate(divide="ignore"):
            inv_len2 = np.where(len2 > 0, 1.0 / np.where(len2 > 0, len2, 1.0), 0.0)
        # per segment, side by side so a window of segments is one block of memory: the start
        # point, the direction vector, and conj(direction) / length**2 (as complex numbers)
        seg = np.empty((len(dx), 3), dtype=np.complex128)
        seg[:, 0] = x[:-1] + 1j * y[:-1]
        seg[:, 1] = dx + 1j * dy
        seg[:, 2] = (dx - 1j * dy) * inv_len2
        self._seg = seg
        self._za = seg[:, 0]
        self._zd = seg[:, 1]
        self._w = seg[:, 2]
        self._cum = np.concatenate(([0.0], np.cumsum(seg_len)))  # progress at each vertex
        self._nseg = len(dx)
        self._max_seg = float(seg_len.max())
        self.length_m = float(self._cum[-1])

    @classmethod
    def from_route(cls, route: Route) -> RouteLine:
        return cls(route.path)

    # ---- queries ---------------------------------------------------------------------------

    def project(self, lon: float, lat: float) -> tuple[float, float]:
        """The point in this route's metric frame."""
        return self.projection.forward(lon, lat)

    def nearest(self, x: float, y: float) -> Match:
        """The closest point of the whole line."""
        t, d2 = self._scan(x, y, 0, self._nseg)
        k = int(d2.argmin())
        return self._match(k, float(t[k]), float(d2[k]))

    def passes(
        self, x: float, y: float, within_m: float, lo_m: float = -math.inf, hi_m: float = math.inf
    ) -> list[Match]:
        """One match per pass of the line within `within_m` of the point, in order of progress.

        A pass is a local minimum of the distance along the line: a route that comes by the same
        street twice, even in the next lane, gives two. Only segments overlapping progress
        [lo_m, hi_m] are searched, and only matches whose foot lies in that range are returned.
        """
        i0, i1 = self._segment_range(lo_m, hi_m)
        if i0 >= i1:
            return []
        t, d2 = self._scan(x, y, i0, i1)
        limit = within_m + EDGE_TOLERANCE_M
        inside = d2 <= limit * limit
        idx = inside.nonzero()[0]
        n = len(idx)
        if n == 0:
            return []
        a, b = int(idx[0]), int(idx[-1])
        cum = self._cum
        if b - a + 1 == n and cum[i0 + b + 1] - cum[i0 + a] <= 2.0 * (limit + self._max_seg):
            # one unbroken stretch no longer than a straight pass through the corridor: one pass
            k = a + int(d2[a : b + 1].argmin())
            m = self._match(i0 + k, float(t[k]), float(d2[k]))
            return [m] if lo_m <= m.progress_m <= hi_m else []
        # local minima: no farther than the segment before, nearer than the one after
        inside[1:] &= d2[1:] <= d2[:-1]
        inside[:-1] &= d2[:-1] < d2[1:]
        matches = []
        for k in inside.nonzero()[0].tolist():
            m = self._match(i0 + k, float(t[k]), float(d2[k]))
            if lo_m <= m.progress_m <= hi_m:
                matches.append(m)
        return matches

    def locate(self, lon: float, lat: float) -> Match:
        """The closest point of the line to a WGS84 position."""
        x, y = self.project(lon, lat)
        return self.nearest(x, y)

    def point_at(self, progress_m: float, offset_m: float = 0.0) -> tuple[float, float]:
        """The (lon, lat) at `progress_m` along the line, `offset_m` to its left (negative: right)."""
        x, y, ux, uy = self._frame_at(progress_m)
        return self.projection.inverse(x - uy * offset_m, y + ux * offset_m)

    @property
    def nbytes(self) -> int:
        """Memory held by the line's arrays."""
        return self._seg.nbytes + self._cum.nbytes

    def __len__(self) -> int:
        return self._nseg + 1

    # ---- internals -------------------------------------------------------------------------

    def _segment_range(self, lo_m: float, hi_m: float) -> tuple[int, int]:
        cum = self._cum
        i0 = 0 if lo_m <= 0.0 else max(int(cum.searchsorted(lo_m, "right")) - 1, 0)
        i1 = self._nseg if hi_m >= self.length_m else min(int(cum.searchsorted(hi_m, "left")) + 1, self._nseg)
        return i0, i1

    def _scan(self, x: float, y: float, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
        """Foot parameter t (0..1 on each segment) and squared distance, for segments i0..i1-1."""
        zd = self._zd[i0:i1]
        q = complex(x, y) - self._za[i0:i1]
        t = (q * self._w[i0:i1]).real  # (q . d) / |d|**2
        np.maximum(t, 0.0, out=t)
        np.minimum(t, 1.0, out=t)
        q -= t * zd
        d2 = q.real * q.real
        d2 += q.imag * q.imag
        return t, d2

    def _match(self, k: int, t: float, d2: float) -> Match:
        cum = self._cum
        a = float(cum[k])
        return Match(math.sqrt(d2), a + t * (float(cum[k + 1]) - a), k)

    def _frame_at(self, progress_m: float) -> tuple[float, float, float, float]:
        """Point at a progress and the unit direction of its segment."""
        p = min(max(progress_m, 0.0), self.length_m)
        k = min(max(int(self._cum.searchsorted(p, "right")) - 1, 0), self._nseg - 1)
        while self._zd[k] == 0 and k + 1 < self._nseg:
            k += 1
        seg = float(self._cum[k + 1] - self._cum[k])
        a, d = complex(self._za[k]), complex(self._zd[k])
        f = (p - float(self._cum[k])) / seg if seg > 0 else 0.0
        f = min(max(f, 0.0), 1.0)
        return a.real + f * d.real, a.imag + f * d.imag, d.real / seg, d.imag / seg
