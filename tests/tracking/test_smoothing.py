"""The One-Euro filter on synthetic signals: exact properties, and noise reduction by stated factors.

Signals are in pixels with ``scale=100`` (a person 100 px tall), so the default parameters act as in the tracker.

Noise factors, justified: a first-order low-pass filter with cutoff ``fc`` sampled every ``dt`` has
``alpha = 1 / (1 + 1 / (2 pi fc dt))`` and passes the fraction ``alpha / (2 - alpha)`` of white-noise variance.
At the default ``min_cutoff`` of 1 Hz that is a 3.2x lower noise std at 30 fps and 2.0x at 10 fps for a still
point. The One-Euro cutoff opens a little as noise looks like speed, and lag adds error on a moving point, so
the tests require 2.5x (30 fps) and 1.7x (10 fps) for a still point with 2 px noise, and 1.6x (30 fps) for a
point drifting at 0.05 heights/s with a slow 0.2 Hz sway.
"""

from __future__ import annotations

import numpy as np
import pytest

from rtpose.tracking.smoothing import OneEuroFilter, OneEuroParams

H = 100.0  # scale: person height in pixels


def run(filt: OneEuroFilter, xs: np.ndarray, ts: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    return np.array([filt(x, t, None if valid is None else valid[i], scale=H) for i, (x, t) in enumerate(zip(xs, ts))])


def test_constant_stays_constant():
    ts = np.cumsum(np.random.default_rng(1).uniform(0.02, 0.15, 200))  # variable frame rate
    xs = np.broadcast_to(np.random.default_rng(2).uniform(0, 500, (17, 2)), (200, 17, 2))
    out = run(OneEuroFilter(), xs, ts)
    np.testing.assert_allclose(out, xs, atol=1e-9)


def test_first_sample_and_reset_return_input():
    filt = OneEuroFilter()
    x0 = np.full((17, 2), 10.0)
    np.testing.assert_array_equal(filt(x0, 0.0, scale=H), x0)
    filt(np.full((17, 2), 50.0), 0.1, scale=H)
    assert filt.initialized
    filt.reset()
    assert not filt.initialized
    x2 = np.full((17, 2), 300.0)
    np.testing.assert_array_equal(filt(x2, 0.2, scale=H), x2)  # no memory of 10 or 50


@pytest.mark.parametrize("fps, samples", [(10, 2), (30, 3)])
def test_step_is_followed(fps, samples):
    """A step of one person height is within 5 % of its new value after 2 samples at 10 fps, 3 at 30 fps,
    and within 0.5 % after 0.5 s."""
    filt = OneEuroFilter()
    filt(np.zeros((17, 2)), 0.0, scale=H)
    out = np.array([filt(np.full((17, 2), H), i / fps, scale=H) for i in range(1, fps + 1)])
    assert (out[samples - 1] >= 0.95 * H).all()
    assert (out[fps // 2 - 1] >= 0.995 * H).all()
    assert (out <= H + 1e-9).all()  # first-order: no overshoot


@pytest.mark.parametrize("fps, factor", [(30, 2.5), (10, 1.7)])
def test_noise_on_still_point_is_reduced(fps, factor):
    rng = np.random.default_rng(0)
    ts = np.arange(60 * fps) / fps
    truth = np.full((len(ts), 17, 2), 250.0)
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    out = run(OneEuroFilter(), noisy, ts)
    skip = fps  # settle for a second
    ratio = (noisy - truth)[skip:].std() / (out - truth)[skip:].std()
    assert ratio >= factor, ratio


def test_noise_on_slowly_moving_point_is_reduced():
    fps, rng = 30, np.random.default_rng(3)
    ts = np.arange(60 * fps) / fps
    x = 200 + 0.05 * H * ts
    y = 300 + 10 * np.sin(2 * np.pi * 0.2 * ts)
    truth = np.broadcast_to(np.stack([x, y], 1)[:, None, :], (len(ts), 17, 2))
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    out = run(OneEuroFilter(), noisy, ts)
    err_raw, err_out = (noisy - truth)[fps:], (out - truth)[fps:]
    assert err_raw.std() / err_out.std() >= 1.6
    assert np.sqrt((err_out**2).mean()) <= np.sqrt((err_raw**2).mean()) / 1.5  # bias (lag) included


@pytest.mark.parametrize("fps", [10, 30])
def test_fast_motion_lags_little(fps):
    """Walking at one person height per second, the One-Euro lag is under 5 % of the height (0.05 s) where a
    fixed 1 Hz low-pass (beta=0) lags 1 / (2 pi 1 Hz) = 0.16 s, i.e. 16 % of the height."""
    ts = np.arange(3 * fps) / fps
    truth = np.zeros((len(ts), 17, 2))
    truth[..., 0] = (100 + H * ts)[:, None]
    lag = (truth - run(OneEuroFilter(), truth, ts))[-fps:, :, 0]
    lag_fixed = (truth - run(OneEuroFilter(OneEuroParams(beta=0.0)), truth, ts))[-fps:, :, 0]
    assert (lag > 0).all() and lag.max() < 0.05 * H, lag.max()
    assert lag_fixed.mean() > 0.15 * H


def test_low_confidence_points_do_not_move_the_filter():
    filt = OneEuroFilter()
    base = np.full((17, 2), 100.0)
    for i in range(10):
        filt(base, i / 30, scale=H)
    valid = np.ones(17, bool)
    valid[[3, 9]] = False
    wild = base.copy()
    wild[[3, 9]] = 5000.0  # garbage where the score is low
    for i in range(10, 40):
        out = filt(wild, i / 30, valid=valid, scale=H)
        np.testing.assert_array_equal(out[[3, 9]], 5000.0)  # raw value passes through
        np.testing.assert_allclose(out[valid], 100.0)
    # valid again: the held state (100) is where the point continues from, not 5000
    out = filt(base, 40 / 30, scale=H)
    np.testing.assert_allclose(out, 100.0)


def test_points_are_independent():
    rng = np.random.default_rng(5)
    ts = np.arange(100) / 25
    xs = rng.normal(100, 20, (100, 17, 2))
    together = run(OneEuroFilter(), xs, ts)
    for k in (0, 7, 16):
        alone = run(OneEuroFilter(), xs[:, k : k + 1], ts)
        np.testing.assert_allclose(together[:, k : k + 1], alone)


def test_repeated_timestamp_changes_nothing():
    filt = OneEuroFilter()
    filt(np.zeros((17, 2)), 0.0, scale=H)
    a = filt(np.full((17, 2), 10.0), 0.1, scale=H)
    b = filt(np.full((17, 2), 90.0), 0.1, scale=H)  # same time: held state
    np.testing.assert_array_equal(a, b)
    c = filt(np.full((17, 2), 10.0), 0.2, scale=H)
    assert (c > a).all() and (c < 10).all()


def test_bad_params_rejected():
    with pytest.raises(ValueError):
        OneEuroParams(min_cutoff=0)
    with pytest.raises(ValueError):
        OneEuroParams(beta=-1)
