"""Temporal landmark filtering for video and live modes: the One-Euro filter (Casiez, Roussel &
Vogel, CHI 2012), timestamp-aware and scale-aware.

A still face jitters by a few pixels from frame to frame (sensor noise moves the heatmap peaks);
the One-Euro filter is an exponential smoother whose cutoff frequency rises with the signal's
speed: strong smoothing while a landmark stands still, little lag while it moves::

    cutoff = min_cutoff + beta * |speed|          (Hz; speed in object sizes per second)
    alpha  = 1 / (1 + 1 / (2 pi cutoff dt))       (dt: seconds since the previous frame)
    x_hat  = x_hat_prev + alpha (x - x_hat_prev)

Scale-aware: the speed is measured in units of the object's size (``scale``, the side of its
landmark box in pixels), so a near and a far face are smoothed alike. Timestamp-aware: ``dt`` comes
from the frames' timestamps (milliseconds), not from a frame count, so a dropped frame or a
variable camera rate changes nothing. The same filter, with the same constants, runs in the
Android app (``android_demo/.../OneEuroFilter.java``, checked against golden vectors of this one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Smoothing(StrEnum):
    """Temporal filtering of landmarks in video / live mode (image mode never filters)."""

    OFF = "off"
    ONE_EURO = "one-euro"


@dataclass(frozen=True)
class OneEuroParams:
    """One-Euro constants; the defaults are the runtime's and the Android app's.

    ``min_cutoff``: Hz, the cutoff of a still landmark (lower: steadier, more lag when motion starts).
    ``beta``: Hz per (object size per second), how fast the cutoff rises with speed (higher: less
    lag while moving). ``d_cutoff``: Hz, the cutoff of the speed estimate itself.
    Chosen on ``make bench``'s live-quality clips (``bench/live.py``) for the shipped face model:
    still-face jitter 3.6 % -> 0.3 % of the inter-ocular distance, about 0.65 frame of lag at
    5 px per frame (30 fps); a higher ``beta`` trades jitter for less lag.
    """

    min_cutoff: float = 0.1
    beta: float = 5.0
    d_cutoff: float = 0.5

    def __post_init__(self):
        for name in ("min_cutoff", "beta", "d_cutoff"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0) or (name != "beta" and v == 0):
                raise ValueError(f"OneEuroParams.{name} must be a finite number > 0 (beta >= 0), got {v!r}")


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of an exponential filter with ``cutoff`` Hz sampled every ``dt`` s."""
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))


class OneEuroFilter:
    """One-Euro filter over an array of coordinates (for example (K, 2) landmarks), each value
    filtered independently with its own speed-dependent cutoff.

    The first call (and the first after :meth:`reset`) returns its input unchanged.
    """

    def __init__(self, params: OneEuroParams | None = None):
        self.params = params or OneEuroParams()
        self.reset()

    def reset(self) -> None:
        """Forget the history: the next value passes unfiltered (a new object, or a lost track)."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @property
    def last_timestamp_ms(self) -> float | None:
        return self._t

    def __call__(self, x: np.ndarray, timestamp_ms: float, scale: float = 1.0) -> np.ndarray:
        """Filter one sample.

        Args:
            x: float array of any shape (the same every call), e.g. (K, 2) ``(x, y)`` image pixels.
            timestamp_ms: the sample's time in milliseconds; must increase from call to call.
            scale: the object's size in the units of ``x`` (e.g. its landmark box side in pixels), > 0.

        Returns:
            float32 array shaped like ``x``: the filtered values.

        Raises:
            ValueError: a timestamp that does not increase, a non-finite value, a shape change or
            a bad scale (one line naming the problem); the filter's state is left unchanged.
        """
        x = np.asarray(x, np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError("OneEuroFilter: the values must be finite (got NaN or inf); reset() the filter "
                             "or skip the sample")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"OneEuroFilter: scale must be a finite number > 0, got {scale!r}")
        t = float(timestamp_ms)
        if not math.isfinite(t):
            raise ValueError(f"OneEuroFilter: timestamp_ms must be finite, got {timestamp_ms!r}")
        if self._x is None:
            self._x, self._dx, self._t = x, np.zeros_like(x), t
            return x.astype(np.float32)
        if x.shape != self._x.shape:
            raise ValueError(f"OneEuroFilter: got values of shape {x.shape} after {self._x.shape}; reset() "
                             "the filter for a new object")
        if t <= self._t:
            raise ValueError(f"OneEuroFilter: timestamps must increase: got {timestamp_ms} ms after {self._t} ms")
        p = self.params
        dt = (t - self._t) / 1000.0
        speed = (x - self._x) / (dt * scale)  # object sizes per second
        dx = self._dx + _alpha(p.d_cutoff, dt) * (speed - self._dx)
        a = _alpha(p.min_cutoff + p.beta * np.abs(dx), dt)
        self._x = self._x + a * (x - self._x)
        self._dx, self._t = dx, t
        return self._x.astype(np.float32)


__all__ = ["OneEuroFilter", "OneEuroParams", "Smoothing"]
