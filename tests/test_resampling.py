"""Resampling in one or two polyphase stages (heartsound.resampling): which rates take
which path, the known response, and how far an output sample looks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from heartsound.io import resample
from heartsound.resampling import STAGE1_ATTEN_DB, TWO_STAGE_RATIO, ratio, reach, resample_plan


@pytest.mark.parametrize("sr_in, sr_out, stages", [
    (44100, 1000, ((1, 9), (10, 49))), (48000, 1000, ((1, 12), (1, 4))),
    (22050, 1000, ((1, 3), (20, 147))), (16000, 1000, ((1, 4), (1, 4))),
    (44100, 2000, ((1, 3), (20, 147))),
    (2000, 1000, ((1, 2),)), (4000, 1000, ((1, 4),)), (4000, 2000, ((1, 2),)),
    (8000, 1000, ((1, 8),)), (11025, 1000, ((40, 441),)), (1000, 8000, ((8, 1),)),
    (1000, 1000, ())])
def test_plan_two_stages_only_for_high_ratios(sr_in, sr_out, stages):
    plan = resample_plan(sr_in, sr_out)
    assert tuple((u, d) for u, d, _ in plan) == stages
    up, down = ratio(sr_in, sr_out)
    assert (len(plan) == 2) == (down >= TWO_STAGE_RATIO * up and stages != ((40, 441),))
    for _, _, taps in plan:
        assert taps.size % 2 == 1                     # centred: no half-sample shift


@pytest.mark.parametrize("sr_in, sr_out", [(2000, 1000), (4000, 1000), (4000, 2000)])
def test_stethoscope_rates_are_resample_poly_bit_for_bit(sr_in, sr_out):
    x = np.random.default_rng(1).standard_normal(5 * sr_in + 3)
    up, down = ratio(sr_in, sr_out)
    assert np.array_equal(resample(x, sr_in, sr_out), signal.resample_poly(x, up, down))


@pytest.mark.parametrize("sr_in, sr_out", [(44100, 1000), (48000, 1000), (44100, 2000)])
def test_two_stages_keep_the_band_and_stop_aliases(sr_in, sr_out):
    t = np.arange(2 * sr_in) / sr_in
    cut = slice(sr_out // 4, -sr_out // 4)            # away from the zero-padded edges

    def amplitude(f_hz: float) -> float:
        y = resample(np.sin(2 * np.pi * f_hz * t), sr_in, sr_out)
        assert y.size == 2 * sr_out
        return float(np.sqrt(2 * np.mean(y[cut] ** 2)))

    up, down = ratio(sr_in, sr_out)
    for f in (30.0, 100.0, 250.0, 0.4 * sr_out):
        one = float(np.sqrt(2 * np.mean(signal.resample_poly(
            np.sin(2 * np.pi * f * t), up, down)[cut] ** 2)))
        assert amplitude(f) == pytest.approx(one, abs=2e-3)   # the single filter's gain
    for f in (0.6 * sr_out, 4.5 * sr_out, 0.2 * sr_in):   # would fold into [0, sr_out / 2]
        assert amplitude(f) < 10 ** (-54 / 20)


@pytest.mark.parametrize("n", [1, 440, 441, 442, 44100 + 17])
def test_length_is_ceil_of_n_times_ratio(n):
    x = np.ones(n)
    assert resample(x, 44100, 1000).size == -(-n * 1000 // 44100)
    assert resample(x, 44100, 2000).size == -(-n * 2000 // 44100)


@pytest.mark.parametrize("sr_in, sr_out", [(44100, 1000), (48000, 1000), (4000, 1000),
                                           (11025, 1000)])
def test_an_output_sample_looks_no_further_than_reach(sr_in, sr_out):
    """Change one input sample: only the outputs within reach of it change (and the
    nearest ones do)."""
    x = np.random.default_rng(2).standard_normal(sr_in)
    up, down = ratio(sr_in, sr_out)
    k = sr_in // 2 + 5
    x2 = x.copy()
    x2[k] += 1.0
    changed = np.flatnonzero(resample(x2, sr_in, sr_out) != resample(x, sr_in, sr_out))
    dist = np.abs(changed * down - k * up)            # in units of sr_in * up
    assert dist.max() <= reach(sr_in, sr_out)
    assert dist.min() <= down


def test_channels_are_resampled_along_the_first_axis():
    x = np.random.default_rng(3).standard_normal((4410, 2))
    y = resample(x, 44100, 1000)
    assert y.shape == (100, 2)
    assert np.array_equal(y[:, 1], resample(x[:, 1], 44100, 1000))
    assert np.array_equal(resample(x, 4000, 1000), signal.resample_poly(x, 1, 4))


@pytest.mark.parametrize("sr_in, sr_out", [(44100, 1000), (48000, 1000), (22050, 1000),
                                           (16000, 1000), (44100, 2000)])
def test_first_stage_keeps_the_band_and_stops_what_folds_onto_it(sr_in, sr_out):
    (_, d1, h), _ = resample_plan(sr_in, sr_out)
    f, resp = signal.freqz(h, worN=1 << 14, fs=sr_in)
    gain = np.abs(resp)
    delta = 10 ** (-STAGE1_ATTEN_DB / 20)
    assert np.abs(gain[f <= sr_out / 2] - 1).max() <= delta * 1.01
    folds = np.zeros(f.shape, bool)
    for k in range(1, d1 // 2 + 1):
        folds |= np.abs(f - k * sr_in / d1) <= sr_out / 2
    assert gain[folds].max() <= delta * 1.01
    assert h.size < 2 * 10 * d1                      # short: ~4 taps per output sample
    if (sr_in, sr_out) == (44100, 1000):
        assert h.size == 33
