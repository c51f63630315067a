"""Peak instants of segmented sounds (``heartsound.segmentation.peaks``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from heartsound.errors import ParameterError
from heartsound.evaluation.segmentation import evaluate
from heartsound.segmentation.peaks import sound_peaks
from heartsound.segmentation.result import Event


def _bursts(sr: int, peaks_s: list[float], dur_s: float = 3.0) -> np.ndarray:
    """Gaussian-windowed 60 Hz bursts whose envelope maxima are at ``peaks_s``."""
    t = np.arange(int(dur_s * sr)) / sr
    y = np.zeros_like(t)
    for p in peaks_s:
        y += np.exp(-0.5 * ((t - p) / 0.012) ** 2) * np.sin(2 * np.pi * 60 * (t - p))
    return y


@pytest.mark.parametrize("sr", [1000, 4000, 44100])
def test_peak_of_each_event_is_the_burst_maximum(sr: int) -> None:
    true = [0.40, 0.71, 1.33, 1.62, 2.25]
    y = _bursts(sr, true)
    # segments deliberately off-centre around each burst: centre != peak
    ev = [Event("S1" if i % 2 == 0 else "S2", p - 0.02, p + 0.08) for i, p in enumerate(true)]
    got = sound_peaks(ev, y, sr)
    assert [e.sound for e in got] == [e.sound for e in ev]
    assert all(e.onset_s == e.offset_s == e.centre_s for e in got)
    np.testing.assert_allclose([e.centre_s for e in got], true, atol=0.003)
    # and the centres of the input segments are 30 ms late
    np.testing.assert_allclose([e.centre_s for e in ev], np.array(true) + 0.03, atol=1e-9)


def test_peak_stays_inside_its_segment() -> None:
    y = _bursts(1000, [0.5, 1.0])
    # a segment that does not contain the loud burst takes its own local maximum
    got = sound_peaks([Event("S1", 0.70, 0.80)], y, 1000)
    assert 0.70 <= got[0].centre_s <= 0.80


def test_event_outside_recording_keeps_centre() -> None:
    y = _bursts(1000, [0.5], dur_s=1.0)
    got = sound_peaks([Event("S2", 5.0, 5.1)], y, 1000)
    assert got[0].centre_s == pytest.approx(5.05)


def test_unknown_event_time_rejected(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="event_time"):
        evaluate("pascal2011", tmp_path, lambda y, sr: None, event_time="middle")


@pytest.mark.corpus
@pytest.mark.slow
def test_pascal_peak_convention_cli(pascal_root: Path) -> None:
    """PASCAL annotates peaks: scoring peaks makes the timing error small for both methods."""
    res = {}
    for et in ("centre", "peak"):
        out = subprocess.run([sys.executable, "-m", "heartsound", "evaluate", "segmentation",
                              "--dataset", "pascal2011", "--root", str(pascal_root),
                              "--method", "springer2016", "--event-time", et, "--json"],
                             capture_output=True, text=True, check=True)
        res[et] = json.loads(out.stdout)
        assert res[et]["event_time"] == et and res[et]["n_recordings"] == 21
    assert res["peak"]["timing_error_ms_median"] < 15 < res["centre"]["timing_error_ms_median"]
    assert res["peak"]["by_tolerance"]["30ms"]["f1"] > res["centre"]["by_tolerance"]["30ms"]["f1"] + 0.1
