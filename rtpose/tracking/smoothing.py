"""One-Euro filtering of keypoints (Casiez, Roussel & Vogel, CHI 2012), vectorised over the keypoints of a person.

The One-Euro filter is a first-order low-pass filter whose cutoff frequency rises with the signal's speed:
slow, jittery signals are smoothed hard (``min_cutoff``), fast motion passes with little lag
(``cutoff = min_cutoff + beta * speed``). It works from timestamps, so a variable frame rate is handled.

Speed is measured per keypoint as the norm of its low-passed 2-D velocity (both coordinates share a cutoff), in
``scale`` units per second: :class:`~rtpose.tracking.tracker.PoseTracker` passes the person's box height as the
scale, so :class:`OneEuroParams` mean the same for a person far away (small) and one close to the camera
(large): ``beta`` is per (person heights / second).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rtpose.errors import InputError


@dataclass
class OneEuroParams:
    """Parameters of :class:`OneEuroFilter`.

    Attributes:
        min_cutoff: cutoff frequency (Hz) when the keypoint is still. Lower = smoother at rest, more lag.
        beta: how fast the cutoff rises with speed, Hz per (scale unit / s). Higher = less lag in motion.
        d_cutoff: cutoff frequency (Hz) of the low-pass filter on the speed estimate.

    The defaults were chosen on walking people at 10 fps (``benchmarks/tracking.py``) with the box height as
    scale: at rest (< 0.05 heights/s) the cutoff is ~1 Hz, which removes most frame-to-frame jitter; a walking
    person (~0.5–1 heights/s, limbs faster) gets a 3–5 Hz cutoff, i.e. about a frame of lag or less at 10–30 fps.
    """

    min_cutoff: float = 1.0
    beta: float = 2.0
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        checks = (("min_cutoff", "above 0", self.min_cutoff > 0), ("d_cutoff", "above 0", self.d_cutoff > 0),
                  ("beta", "0 or more", self.beta >= 0))
        for name, wanted, ok in checks:
            if not ok:
                raise InputError(f"{name}={getattr(self, name)!r} must be {wanted} (One-Euro filter).")

def _alpha(cutoff: np.ndarray | float, dt: np.ndarray | float) -> np.ndarray:
    """Smoothing factor of an exponential filter with ``cutoff`` Hz sampled every ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / np.asarray(dt, dtype=np.float64))


class OneEuroFilter:
    """A One-Euro filter over ``(K, D)`` points (e.g. ``(17, 2)`` keypoints), each point filtered independently.

    Points marked invalid in a call (e.g. keypoint score below the threshold) do not update the filter: their
    state (position, speed and time of last update) is kept as it was, and the call returns their raw value.
    When such a point becomes valid again, the filter continues from its held state with the elapsed time.

    Args:
        params: the filter's parameters (defaults: :class:`OneEuroParams`).

    >>> f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0))
    >>> f(np.zeros((1, 2)), 0.0).tolist(), f(np.ones((1, 2)), 0.1).round(3).tolist()
    ([[0.0, 0.0]], [[0.386, 0.386]])
    """

    def __init__(self, params: OneEuroParams | None = None) -> None:
        self.params = params or OneEuroParams()
        self.reset()

    def reset(self) -> None:
        """Forget all state: the next call returns its input unchanged."""
        self._x: np.ndarray | None = None  # filtered position (K, D)
        self._dx: np.ndarray | None = None  # filtered velocity, scale units / s (K, D)
        self._t: np.ndarray | None = None  # time of each point's last update (K,)
        self._seen: np.ndarray | None = None  # whether each point has been initialised (K,)

    @property
    def initialized(self) -> bool:
        """True once some point has been filtered since the last reset."""
        return self._seen is not None and bool(self._seen.any())

    def __call__(
        self,
        x: np.ndarray,
        timestamp: float,
        valid: np.ndarray | None = None,
        scale: float = 1.0,
    ) -> np.ndarray:
        """Filter one sample.

        Args:
            x: ``(K, D)`` positions at ``timestamp``.
            timestamp: seconds; should increase between calls (a repeated or earlier time returns the held state
                for the valid points without updating it).
            valid: boolean ``(K,)``; False points neither use nor move the filter (their raw value is returned).
            scale: speeds are divided by it before the cutoff is computed (e.g. the person's height in pixels).

        Returns:
            ``(K, D)`` filtered positions (float64 copy).
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        k = x.shape[0]
        valid = np.ones(k, bool) if valid is None else np.asarray(valid, bool).reshape(k)
        valid = valid & np.isfinite(x).all(axis=1)
        out = x.copy()
        if self._x is None or self._x.shape != x.shape:
            self._x = x.copy()
            self._dx = np.zeros_like(x)
            self._t = np.full(k, float(timestamp))
            self._seen = valid.copy()
            return out
        t = float(timestamp)
        new = valid & ~self._seen  # first valid sample of these points: take it as is
        self._x[new] = x[new]
        self._dx[new] = 0.0
        self._t[new] = t
        self._seen |= new
        upd = valid & self._seen & ~new
        dt = t - self._t
        stale = upd & (dt <= 0)  # same or earlier time: report the held state, change nothing
        out[stale] = self._x[stale]
        upd &= dt > 0
        if upd.any():
            p = self.params
            dt_u = dt[upd]
            velocity = (x[upd] - self._x[upd]) / dt_u[:, None] / max(float(scale), 1e-9)
            a_d = _alpha(p.d_cutoff, dt_u)[:, None]
            dx = a_d * velocity + (1.0 - a_d) * self._dx[upd]
            cutoff = p.min_cutoff + p.beta * np.linalg.norm(dx, axis=1)
            a = _alpha(cutoff, dt_u)[:, None]
            self._x[upd] = a * x[upd] + (1.0 - a) * self._x[upd]
            self._dx[upd] = dx
            self._t[upd] = t
            out[upd] = self._x[upd]
        return out


__all__ = ["OneEuroFilter", "OneEuroParams"]
