"""The segmentation PNG drawn with Pillow (``heartsound.segmentation.plot.segmentation_png``,
what ``heartsound segment`` writes): size, title, the phase colour of each waveform
column at the decoded states' times, reference marks, agreement with the matplotlib
figure of ``segmentation_figure``, and ``segment`` without matplotlib.

The segmentation is a known one (10 cycles of 1 s decoded from CirCor rows), so no model
runs but in the command-line test. Expected pixel positions come from the figure's
layout: 11 x 3 in at 90 dpi, the panel between 7 % and 98 % of the width and between
15 % and 84 % of the height from the top.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from heartsound.segmentation.plot import save_segmentation_png, segmentation_png
from heartsound.segmentation.result import Segmentation, rows_to_states
from heartsound.vocab import S2
# same folder: 10 cycles of 1 s at 2 kHz, the band colours over white, PNG decoding
from test_render import BLENDED, ROWS, SECONDS, SR, _pixels, _rgb

W, H = 990, 270
#: the panel's data area: 0.07 and 0.98 of the width, 0.15 and 0.84 of the height from the
#: top (40.5 px, a hair over in floating point: row 41)
X0, X1, Y0, Y1 = 69, 970, 41, 227
BAND_ROW = Y0 + 8                   # over white: the waveform stays near the zero line


def _quiet() -> np.ndarray:
    """Faint noise and one click (the peak): the waveform stays near the zero line."""
    y = 1e-3 * np.random.default_rng(2).normal(size=int(SECONDS * SR))
    y[SR // 2] = 1.0
    return y


def _seg() -> Segmentation:
    return Segmentation(rows_to_states(ROWS, 50.0, int(SECONDS * 50)), 50.0, "annotation",
                        60.0, 0.3)


def _column(t: float) -> int:
    """The pixel column of time ``t`` (s)."""
    return int(X0 + t / SECONDS * (X1 - X0))


def test_png_is_990_by_270_with_its_title():
    img = _pixels(segmentation_png(_quiet(), SR, _seg()))
    assert img.shape == (H, W, 3)
    centre = (X0 + X1) // 2
    title = img[Y0 - 20:Y0 - 6, centre - 100:centre + 100]  # centred above the panel
    assert (title.sum(axis=2) < 300).sum() > 60
    other = _pixels(segmentation_png(_quiet(), SR, _seg(), title="another title"))
    assert not np.array_equal(other[Y0 - 20:Y0 - 6], img[Y0 - 20:Y0 - 6])
    assert np.array_equal(other[Y0:], img[Y0:])  # only the title differs


def test_default_title_is_the_matplotlib_figures():
    pytest.importorskip("matplotlib")
    from heartsound.plotting.scene import segmentation_title
    from heartsound.segmentation.plot import segmentation_figure

    seg = _seg()
    assert segmentation_title(seg) == "annotation: 60 bpm, 9 cycles"
    fig = segmentation_figure(_quiet(), SR, seg)
    assert fig.axes[0].get_title() == segmentation_title(seg)


def test_waveform_columns_carry_the_colour_of_their_decoded_state():
    seg = _seg()
    img = _pixels(segmentation_png(_quiet(), SR, seg))
    rows = seg.rows()
    assert len(rows) >= 4 * 9
    for start, end, s in rows:
        col = _column((start + end) / 2)
        assert np.abs(img[BAND_ROW, col] - BLENDED[s]).max() <= 2, (start, end, s)
    # left of the panel and right of it: white, no band
    assert (img[BAND_ROW, X0 - 10] == 255).all() and (img[BAND_ROW, X1 + 5] == 255).all()


def test_a_one_sample_click_is_drawn_to_its_full_height():
    img = _pixels(segmentation_png(_quiet(), SR, _seg()))
    col = X0 + (SR // 2) * (X1 - X0) // int(SECONDS * SR)  # the click's column
    ink = np.nonzero(img[Y0:Y1, col - 1:col + 2].sum(axis=2).min(axis=1) < 300)[0] + Y0
    top = Y0 + (Y1 - Y0) * (1 - 1 / 1.05) / 2          # y of the peak, 1.0
    assert abs(ink.min() - top) <= 1.5
    assert ink.max() >= (Y0 + Y1) / 2                  # down to the zero line


def test_unsegmented_stretch_has_no_band():
    seg = Segmentation(rows_to_states(ROWS[:20], 50.0, int(SECONDS * 50)), 50.0, "x",
                       60.0, 0.3)  # rows up to 5 s only
    img = _pixels(segmentation_png(_quiet(), SR, seg))
    assert np.abs(img[BAND_ROW, _column(2.5)] - BLENDED[S2]).max() <= 2
    assert (img[BAND_ROW, _column(5.5):_column(9.5)] == 255).all()


def test_reference_marks_are_triangles_at_their_times(tmp_path):
    ref = [("S1", 2.05), ("S2", 6.5)]
    path = save_segmentation_png(tmp_path / "s.png", _quiet(), SR, _seg(), reference=ref)
    img = _pixels(path.read_bytes())
    plain = _pixels(segmentation_png(_quiet(), SR, _seg()))
    changed = np.nonzero((img != plain).any(axis=2))
    assert changed[0].size > 10
    # the marks sit on the bands' bottom edge (1/1.05 of the way down from the centre)
    bottom = (Y0 + Y1) / 2 + (Y1 - Y0) / 2 / 1.05
    assert np.abs(changed[0] - bottom).max() <= 5
    for (sound, t), colour in zip(ref, ("#d62728", "#1f77b4")):
        near = np.abs(changed[1] - _column(t)) <= 5
        assert near.sum() > 5, sound
        ys, xs = changed[0][near], changed[1][near]
        assert (np.abs(img[ys, xs] - _rgb(colour)).max(axis=1) <= 1).mean() > 0.5, sound
    assert np.isin(changed[1], [c for t in (2.05, 6.5)
                                for c in range(_column(t) - 5, _column(t) + 6)]).all()


def test_raster_agrees_with_the_matplotlib_figure():
    """The phase of every waveform column is the one matplotlib draws but within 2 px of
    a band edge; both figures are 990 x 270."""
    pytest.importorskip("matplotlib")
    from heartsound.plotting import png_bytes
    from heartsound.segmentation.plot import segmentation_figure

    y, seg = _quiet(), _seg()
    new = _pixels(segmentation_png(y, SR, seg))
    old = _pixels(png_bytes(segmentation_figure(y, SR, seg), dpi=90))
    assert new.shape == old.shape == (H, W, 3)
    states = list(BLENDED)
    ref = np.stack([BLENDED[s] for s in states])

    def phase(img: np.ndarray) -> np.ndarray:
        line = img[BAND_ROW, X0 + 2:X1 - 2]
        return np.argmin(np.abs(line[:, None, :] - ref[None]).sum(axis=2), axis=1)

    pn, po = phase(new), phase(old)
    ink = (new[BAND_ROW, X0 + 2:X1 - 2].sum(axis=1) < 300) \
        | (old[BAND_ROW, X0 + 2:X1 - 2].sum(axis=1) < 300)  # the click's line
    assert ink.sum() <= 4
    edges = np.nonzero(np.diff(po))[0]
    assert edges.size >= 4 * 9
    near_edge = np.min(np.abs(np.arange(pn.size)[:, None] - edges[None]), axis=1) <= 2
    assert (pn == po)[~near_edge & ~ink].all()


def test_segment_command_writes_the_raster_png_without_matplotlib(tmp_path):
    from heartsound.example import example_path
    from heartsound.report import is_heartsound_output

    good = tmp_path / "good.flac"
    shutil.copy(example_path(), good)
    code = textwrap.dedent("""
        import sys
        from heartsound.cli import main
        for _ in range(2):  # the second run replaces the first's files
            assert main(["segment", sys.argv[1], "--out", sys.argv[2]]) == 0
        assert "matplotlib" not in sys.modules, "matplotlib imported"
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", code, str(good), str(tmp_path / "o")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    png = tmp_path / "o" / "good.heartsound.png"
    assert is_heartsound_output(png)
    img = Image.open(png)
    assert img.size == (W, H)
    assert img.info.get("dpi") == pytest.approx((90, 90), abs=0.01)
