"""The typed, frozen front end: built once per recording, same signals as each stage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from heartsound.errors import ParameterError, SilentAudioError, TooShortError
from heartsound.features import hilbert_envelope, homomorphic_envelope, springer_features
from heartsound.frontend import Frontend, as_frontend
from heartsound.io import resample
from heartsound.preprocess import SR, bandpass_centred, preprocess, schmidt_spike_removal
from heartsound.segmentation.neural import neural_features


@pytest.fixture
def pcg(rng: np.random.Generator) -> np.ndarray:
    sr = 4000
    t = np.arange(7 * sr) / sr
    return rng.standard_normal(t.size) * np.sin(2 * np.pi * 1.2 * t) ** 8


def test_frontend_gives_the_same_signals_as_each_stage(pcg: np.ndarray) -> None:
    sr = 4000
    fe = Frontend.from_signal(pcg, sr)
    clean, _ = preprocess(pcg, sr)
    assert np.array_equal(fe.clean(), clean)
    assert np.array_equal(fe.resampled(2000), resample(pcg, sr, 2000))
    assert np.array_equal(fe.hilbert(), hilbert_envelope(clean))
    assert np.array_equal(fe.homomorphic(), homomorphic_envelope(clean, SR))
    for ext in (False, True):
        a, _ = springer_features(pcg, sr, extended=ext)
        b, _ = springer_features(pcg, sr, extended=ext, frontend=fe)
        assert np.array_equal(a, b)
    assert np.array_equal(neural_features(pcg, sr)[0], neural_features(pcg, sr, frontend=fe)[0])
    assert fe.clean() is fe.clean()  # computed once


def test_frontend_is_frozen_and_read_only(pcg: np.ndarray) -> None:
    fe = Frontend(pcg, 4000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fe.sr = 2000  # type: ignore[misc]
    with pytest.raises(ValueError):
        fe.y[0] = 1.0
    pcg[0] = 5.0  # the caller's array stays writable (fe.y is a read-only view)
    assert fe.duration_s == pytest.approx(7.0)


def test_frontend_validation(pcg: np.ndarray) -> None:
    with pytest.raises(ParameterError):
        Frontend(pcg, 4000.5)
    with pytest.raises(SilentAudioError):
        Frontend.from_signal(np.zeros(8000), 4000)
    with pytest.raises(TooShortError):
        Frontend.from_signal(pcg[:2000], 4000)
    with pytest.warns(UserWarning, match="mixed down"):
        assert Frontend.from_signal(np.c_[pcg, pcg], 4000).y.shape == pcg.shape


def test_as_frontend_uses_the_given_one_without_pointer_matching(pcg: np.ndarray) -> None:
    fe = Frontend(pcg, 4000)
    assert as_frontend(pcg.copy(), 4000, fe) is fe  # a copy does not turn sharing off
    with pytest.raises(ParameterError, match="frontend describes"):
        as_frontend(pcg, 2000, fe)
    with pytest.raises(ParameterError, match="frontend describes"):
        as_frontend(pcg[:-1], 4000, fe)
    with pytest.raises(TooShortError):
        as_frontend(pcg[:2000], 4000, Frontend(pcg[:2000], 4000))


def test_bandpassed_rebuilt_after_clean_equals_direct(rng: np.random.Generator) -> None:
    y = 0.1 * rng.standard_normal(40_000)
    burst = 3.0 * np.sin(2 * np.pi * 100 * np.arange(20) / 2000)
    for s in (5_000, 17_000, 17_050, 31_000):  # friction spikes to remove
        y[s:s + 20] += burst
    want_b = bandpass_centred(resample(y, 2000, 1000), 1000, (25.0, 400.0))
    want_c = schmidt_spike_removal(want_b, 1000)
    assert not np.array_equal(want_b, want_c)
    fe = Frontend(y, 2000)
    assert np.array_equal(fe.clean(), want_c)
    assert np.array_equal(fe.bandpassed(), want_b)      # rebuilt from the spikes
    assert np.array_equal(fe.clean(), want_c)           # not changed by the rebuild
    fe2 = Frontend(y, 2000)
    b = fe2.bandpassed()                                 # handed out before clean()
    assert np.array_equal(fe2.clean(), want_c) and np.array_equal(b, want_b)
    fe2.release()
    assert np.array_equal(fe2.bandpassed(), want_b)
