"""The out-of-distribution (typicality) score: the profile, site Gaussians with known
answers, the shipped statistics, and the ``typicality`` entry of ``analyze``."""

from __future__ import annotations

import numpy as np
import pytest

from heartsound.classification.ood import (N_BANDS, OODStats, assess, fit_stats,
                                           load_stats, profile, score, typicality)
from heartsound.errors import ModelError, ParameterError
from heartsound.pipeline import analyze, example_path


def test_profile_shape_and_gain_invariance(rng):
    y = rng.normal(size=8000)
    p = profile(y, 2000)
    assert p.shape == (2 * N_BANDS,)
    assert np.allclose(profile(10.0 * y, 2000), p, atol=1e-4)


def test_profile_sees_a_spectral_tilt(rng):
    """Low-passed noise has more relative energy in the low bands than white noise."""
    from scipy.signal import butter, sosfilt

    y = rng.normal(size=8000)
    low = sosfilt(butter(4, 150, fs=2000, output="sos"), y)
    pw, pl = profile(y, 2000), profile(low, 2000)
    assert pl[0] - pl[N_BANDS - 1] > pw[0] - pw[N_BANDS - 1] + 2.0


def test_site_gaussians_known_answers(rng):
    a = rng.normal(0.0, 1.0, size=(3000, 4))
    b = rng.normal(10.0, 1.0, size=(3000, 4))
    st = fit_stats(np.r_[a, b], ["a"] * 3000 + ["b"] * 3000, shrinkage=0.0)
    assert st.sites == ("a", "b")
    assert np.allclose(st.means, [[0] * 4, [10] * 4], atol=0.1)
    # scaled distance sqrt(d2 / 4): the mean of a site scores ~0, 2 sd along every axis ~2
    assert score(st, np.zeros(4)) == pytest.approx(0.0, abs=0.05)
    assert score(st, np.full(4, 12.0)) == pytest.approx(2.0, abs=0.1)
    s = score(st, np.r_[a, b])
    assert np.mean(s >= st.threshold) == pytest.approx(0.01, abs=0.003)
    with pytest.raises(ParameterError, match="values"):
        score(st, np.zeros(3))
    with pytest.raises(ParameterError, match="at least 3"):
        fit_stats(a[:2], ["a", "a"])


def test_stats_round_trip():
    st = OODStats(("x",), np.zeros((1, 2)), np.eye(2)[None], 1.5, {"n": 3})
    back = OODStats.from_dict(st.to_dict())
    assert back.sites == ("x",) and back.threshold == 1.5
    assert np.allclose(back.precisions, st.precisions)


def test_shipped_statistics_and_example_typicality(tmp_path):
    st = load_stats()
    assert "circor2022" in st.sites and "physionet2016/e" in st.sites
    assert st.means.shape == (len(st.sites), 2 * N_BANDS) and st.threshold > 0.5
    from heartsound.io import load

    rec = load(example_path())
    t = typicality(rec.y, rec.sr)
    assert set(t) == {"score", "threshold", "atypical", "nearest_site"}
    assert t["atypical"] == (t["score"] >= t["threshold"])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ModelError, match="OOD statistics"):
        load_stats(tmp_path / "bad.json")


def test_white_noise_is_atypical(rng):
    """Broadband noise has nothing of a stethoscope recording's spectral shape."""
    t = assess(rng.normal(size=20000), 2000)
    assert t["atypical"] and t["score"] > t["threshold"]


@pytest.mark.slow
def test_analyze_reports_typicality():
    d = analyze(example_path(), tasks=("abnormal",), evidence=False).to_dict()
    assert d["typicality"]["threshold"] == pytest.approx(load_stats().threshold, rel=1e-5)
    assert isinstance(d["typicality"]["atypical"], bool)
