"""HSMM duration model and extended duration-dependent Viterbi decoder."""

from __future__ import annotations

import numpy as np
import pytest

from heartsound.errors import ParameterError
from heartsound.segmentation.heart_rate import estimate_heart_rate, heart_rate_candidates
from heartsound.segmentation.hsmm import (decode, decode_with_score, duration_model,
                                          posteriors_to_loglik)


def _cyclic(states: np.ndarray) -> bool:
    ch = np.flatnonzero(np.diff(states))
    return bool(np.all(states[ch + 1] == states[ch] % 4 + 1))


def _true_states(n: int, hr: float, si: float, offset_s: float, fr: float = 50.0) -> np.ndarray:
    """Frame states of a regular rhythm: S1 0.12 s, S2 0.1 s."""
    t = (np.arange(n) / fr - offset_s) % (60.0 / hr)
    s = np.full(n, 4, dtype=np.int8)
    s[t < si] = 2
    s[t < 0.12] = 1
    s[(t >= si) & (t < si + 0.1)] = 3
    return s


@pytest.mark.parametrize("hr, si", [(40.0, 0.4), (72.0, 0.33), (150.0, 0.22), (200.0, 0.2)])
def test_duration_model_properties(hr: float, si: float) -> None:
    dm = duration_model(hr, si)
    logp = dm.log_pmf()
    assert logp.shape == (4, dm.max_frames)
    assert np.allclose(np.exp(logp).sum(axis=1), 1.0)
    lo, hi = dm.bounds()
    assert np.all(lo >= 1) and np.all(hi >= lo)
    # mean durations add up to the cycle (unless clamped at very high rates)
    if hr < 180:
        assert sum(dm.mean_s) == pytest.approx(60.0 / hr)
    assert dm.mean_s[1] == pytest.approx(max(si - 0.122, 0.04))
    # diastole SD grows with its mean; mode of each pmf near its mean
    modes = (np.argmax(logp, axis=1) + 1) / 50.0
    assert np.allclose(modes, dm.mean_s, atol=0.011)
    surv = np.exp(dm.log_survival())
    assert np.allclose(surv[:, 0], 1.0) and np.all(np.diff(surv, axis=1) <= 1e-12)


def test_duration_model_replace_has_its_own_tables() -> None:
    """A copy with other durations (dataclasses.replace) must not reuse the original's
    cached duration tables."""
    import dataclasses

    dm = duration_model(60.0, 0.35)
    before = dm.log_pmf()
    fast = dataclasses.replace(dm, mean_s=tuple(m / 2 for m in dm.mean_s),
                               sd_s=tuple(s / 2 for s in dm.sd_s))
    modes = (np.argmax(fast.log_pmf(), axis=1) + 1) / fast.frame_rate
    assert np.allclose(modes, fast.mean_s, atol=0.011)  # the new durations, not dm's
    assert np.array_equal(dm.log_pmf(), before)


def test_duration_model_bad_input() -> None:
    with pytest.raises(ParameterError):
        duration_model(0.0, 0.3)
    with pytest.raises(ParameterError):
        duration_model(60.0, 1.5)
    with pytest.raises(ParameterError):
        duration_model(float("nan"), 0.3)


@pytest.mark.parametrize("hr, si, offset", [(70.0, 0.33, 0.0), (70.0, 0.33, 0.41),
                                            (150.0, 0.22, 0.13), (45.0, 0.38, 0.9)])
def test_decoder_recovers_clean_sequence(hr: float, si: float, offset: float,
                                         rng: np.random.Generator) -> None:
    n = 600
    truth = _true_states(n, hr, si, offset)
    post = np.full((n, 4), 0.1)
    post[np.arange(n), truth - 1] = 0.7
    post += 0.05 * rng.random((n, 4))
    est = decode(post, duration_model(hr, si), kind="posteriors")
    assert _cyclic(est)
    assert np.mean(est == truth) > 0.95
    # the first and last segments may be cut by the edges (extended Viterbi)
    assert est[0] == truth[0] and est[-1] == truth[-1]


@pytest.mark.parametrize("seed", range(5))
def test_decoder_always_cyclic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 800))
    post = rng.dirichlet(np.ones(4), size=n)
    dm = duration_model(float(rng.uniform(40, 200)), 0.25)
    est = decode(post, dm, kind="posteriors", priors=np.array([0.15, 0.3, 0.15, 0.4]))
    assert est.shape == (n,) and est.dtype == np.int8
    assert set(np.unique(est)) <= {1, 2, 3, 4}
    assert _cyclic(est)
    lo, hi = dm.bounds()
    change = np.concatenate([[0], np.flatnonzero(np.diff(est)) + 1, [n]])
    for a, b in zip(change[1:-2], change[2:-1]):  # inner segments respect the bounds
        j = est[a] - 1
        assert lo[j] <= b - a <= hi[j]


def test_log_evidence_does_not_change_path(rng: np.random.Generator) -> None:
    post = rng.dirichlet(np.ones(4), size=300)
    dm = duration_model(80.0, 0.3)
    a, sa = decode_with_score(post, dm, kind="posteriors")
    ev = rng.normal(size=300)
    b, sb = decode_with_score(post, dm, kind="posteriors", log_evidence=ev)
    assert np.array_equal(a, b)
    assert sb == pytest.approx(sa + ev.sum())


def test_posteriors_to_loglik_bayes() -> None:
    post = np.array([[0.5, 0.2, 0.2, 0.1]])
    pri = np.array([0.1, 0.3, 0.1, 0.5])
    ll = posteriors_to_loglik(post, pri, np.array([-2.0]))
    assert np.allclose(ll, np.log(post) - np.log(pri) - 2.0)


@pytest.mark.parametrize("bad", [np.zeros((10, 3)), np.full((10, 4), np.nan), np.zeros((1, 4))])
def test_decoder_bad_input(bad: np.ndarray) -> None:
    with pytest.raises(ParameterError):
        decode(bad, duration_model(60.0, 0.3))


@pytest.mark.parametrize("hr, si", [(45.0, 0.38), (70.0, 0.33), (110.0, 0.27),
                                    (150.0, 0.22), (190.0, 0.2)])
def test_heart_rate_from_envelope(hr: float, si: float, rng: np.random.Generator) -> None:
    fr = 50.0
    t = np.arange(0, 20, 1 / fr)
    cyc = 60.0 / hr
    env = (np.exp(-0.5 * (((t + 0.1) % cyc - 0.1) / 0.03) ** 2)
           + 0.7 * np.exp(-0.5 * (((t - si + 0.1) % cyc - 0.1) / 0.025) ** 2))
    env += 0.05 * rng.random(t.size)
    est_hr, est_si = estimate_heart_rate(env, fr)
    assert est_hr == pytest.approx(hr, rel=0.04)
    assert est_si == pytest.approx(si, abs=0.03)
    assert heart_rate_candidates(env, fr)[0][0] == pytest.approx(est_hr)
