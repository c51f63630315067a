"""The per-recording speed-ups of issue 20 give the numbers of the plain code they replace.

Each faster path (crops stitched without ``np.add.at``, heart-rate windows autocorrelated
in one batch, phase shares and the raw log-Mel computed once per recording, bootstrap
resamples drawn once per crop count) is compared, bit for bit, with a direct
implementation of what it replaced.
"""

from __future__ import annotations

import numpy as np
import pytest

from heartsound.classification import attention
from heartsound.classification.crops import crop_starts
from heartsound.classification.decision import _SEED, N_BOOT, _resamples
from heartsound.classification.frontend import (
    FrontendConfig,
    log_mel,
    phase_shares,
    shares_of,
)
from heartsound.features import lagged_products
from heartsound.frontend import Frontend
from heartsound.segmentation.heart_rate import autocorrelation, windowed_autocorrelation


def _stitch_reference(maps, starts, n_frames, crop_frames, n_mels=64):
    """The crop-by-crop stitching with np.add.at (before issue 20's change)."""
    maps = np.clip(np.asarray(maps, dtype=np.float64), 0.0, None)
    two_d = maps.ndim == 3
    total = np.zeros((n_frames, n_mels), np.float32) if two_d else np.zeros(n_frames)
    cover = np.zeros(n_frames)
    for a, s in zip(maps, starts):
        up = attention._upsample(a, crop_frames, 0)
        if two_d:
            up = attention._upsample(up, n_mels, 1)
        frames = (s + np.arange(crop_frames)) % n_frames
        np.add.at(total, frames, up)
        np.add.at(cover, frames, 1.0)
    cover = np.maximum(cover, 1.0)
    total /= cover[:, None] if two_d else cover
    return total / total.sum()


@pytest.mark.parametrize("n_frames", [5, 63, 64, 65, 311, 2100, 4500])
def test_stitch_equals_crop_by_crop_add_at(n_frames: int) -> None:
    rng = np.random.default_rng(n_frames)
    starts = crop_starts(n_frames, FrontendConfig())  # > 64 crops for the longest
    for shape in [(len(starts), 64), (len(starts), 4, 4)]:
        maps = rng.random(shape)
        got = attention.stitch(maps, starts, n_frames, 64, 64)
        want = _stitch_reference(maps, starts, n_frames, 64)
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_lagged_products_rows_equal_one_by_one() -> None:
    rng = np.random.default_rng(1)
    for n in (2, 7, 200, 257):
        x = rng.standard_normal((5, n))
        y = rng.standard_normal((5, n))
        assert np.array_equal(lagged_products(x), np.array([lagged_products(r) for r in x]))
        assert np.array_equal(lagged_products(x, y),
                              np.array([lagged_products(a, b) for a, b in zip(x, y)]))


@pytest.mark.parametrize("n", [50, 200, 201, 1013, 20000])
def test_windowed_autocorrelation_equals_window_by_window(n: int) -> None:
    rng = np.random.default_rng(n)
    x = np.abs(rng.standard_normal(n)) + np.sin(np.arange(n) / 7.0)
    x[n // 3] = 0.0 if n < 300 else 40.0  # an artefact clipped by the percentile
    w, h = 200, 50
    starts = [0] if n <= w else list(range(0, n - w + 1, h))
    if n > w and starts[-1] + w < n:
        starts.append(n - w)
    width = min(n, w)
    acc = np.zeros(width)
    for s in starts:
        seg = x[s:s + width]
        acc += autocorrelation(np.minimum(seg, np.percentile(seg, 95.0)))
    assert np.array_equal(windowed_autocorrelation(x, 50.0), acc / len(starts))
    flat = np.ones(n)  # zero autocorrelation after the mean: the zero rows of before
    assert np.array_equal(windowed_autocorrelation(flat, 50.0), np.zeros(width))


def test_shares_of_equals_phase_shares_and_is_shared() -> None:
    rng = np.random.default_rng(3)
    states = rng.integers(0, 5, size=1000).astype(np.int8)
    for cfg in (FrontendConfig(), FrontendConfig(normalize="recording_bins",
                                                 phase_channels=True)):
        got = shares_of(states, 50.0, 311, cfg)
        assert np.array_equal(got, phase_shares(states, 50.0, 311, cfg))
        assert not got.flags.writeable
    # models differing only in normalisation get the same array; other states do not
    a = shares_of(states, 50.0, 311, FrontendConfig(normalize="recording"))
    assert a is shares_of(states.copy(), 50.0, 311, FrontendConfig(normalize="none"))
    other = states.copy()
    other[500] = (other[500] + 1) % 5
    assert not np.array_equal(shares_of(other, 50.0, 311), a)


def test_log_mel_kept_by_frontend_equals_fresh() -> None:
    rng = np.random.default_rng(4)
    y = rng.standard_normal(4000 * 6) * 0.1
    fe = Frontend(y, 4000)
    for norm in ("recording", "recording_bins", "none", "recording"):
        cfg = FrontendConfig(normalize=norm)
        assert np.array_equal(log_mel(y, 4000, cfg, frontend=fe), log_mel(y, 4000, cfg))
    assert sum(1 for k in fe._memo if k[0] == "log_mel") == 1


def test_resamples_are_the_seeded_draw() -> None:
    for n in (1, 9, 40):
        want = np.random.default_rng(_SEED).integers(0, n, size=(N_BOOT, n))
        assert np.array_equal(_resamples(n), want) and not _resamples(n).flags.writeable


def test_autocorrelation_of_rows_equals_row_by_row() -> None:
    rows = np.random.default_rng(3).normal(size=(5, 200))
    rows[2] = 1.5  # constant: all zeros, as a constant signal alone
    assert np.array_equal(autocorrelation(rows), np.stack([autocorrelation(r) for r in rows]))
    assert not autocorrelation(rows)[2].any()
