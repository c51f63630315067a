"""The report figure drawn on a reused figure (``figure_png``) has the same pixels as
one drawn on a new figure (``plot``), whatever was drawn on the reused one before."""

from __future__ import annotations

import io

import numpy as np
import pytest

from heartsound import analyze, example_path, synthetic_pcg
from heartsound.plotting import figure_png, plot, png_bytes
from heartsound.plotting import figure as figure_mod

PIL = pytest.importorskip("PIL.Image")


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(PIL.open(io.BytesIO(png)).convert("RGBA"))


@pytest.mark.slow
def test_reused_figure_draws_the_same_pixels_as_a_new_one():
    sr = 4000
    y, _ = synthetic_pcg(seconds=12.0, sr=sr, bpm=95.0, murmur=False, seed=3)
    analyses = [analyze(example_path()),
                analyze(y, sr=sr),                          # another length and rate
                analyze(example_path(), tasks=("murmur",)),  # another layout
                analyze(y, sr=sr, tasks=()),                 # spectrogram, no classifier
                analyze(example_path(), tasks=("murmur",))]  # reused after the others
    figure_mod._CACHE.clear()
    pasted = 0
    for a in analyses:
        d = a.to_dict()
        key = figure_mod._signature(a, d)
        kept = figure_mod._CACHE[key][2] if key in figure_mod._CACHE else {}
        pasted += bool(kept)  # the caveats' pixels kept from an earlier figure are used
        reused = _pixels(figure_png(a, data=d))
        fresh = _pixels(png_bytes(plot(a, data=d)))
        assert reused.shape == fresh.shape
        assert np.array_equal(reused, fresh)
    assert 1 <= len(figure_mod._CACHE) <= figure_mod._MAX_CACHED
    assert pasted >= 1
