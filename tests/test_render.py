"""The report PNG drawn with Pillow (``heartsound.plotting.figure_png``): size, what each
panel shows for known synthetic analyses, every layout, no matplotlib import, and
agreement with the matplotlib figure of ``heartsound.plot``.

The analyses are assembled by hand (a known segmentation, hand-made classifier outputs),
so no model runs. Expected pixel positions come from the figure's layout fractions
(11 x 8.5 in at 90 dpi; panels between 7 % and 93 % of the width, the waveform panel
from 9 % of the height down).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from heartsound.classification.inference import ClassificationResult
from heartsound.io import Recording
from heartsound.pipeline import Analysis, TaskResult
from heartsound.plotting import figure_png
from heartsound.plotting.raster import auto_ticks, tick_labels
from heartsound.plotting.scene import PHASE_ALPHA, PHASE_COLOURS
from heartsound.quality import assess
from heartsound.segmentation.result import Segmentation, rows_to_states
from heartsound.vocab import DIASTOLE, S1, S2, SYSTOLE

W, H = 990, 765
X0, X1 = 0.07 * W, 0.93 * W          # panels' left and right edges
WAVE_TOP = 0.09 * H                   # waveform panel's top edge
SR, SECONDS = 2000, 10.0
#: one cycle of 1 s: S1 0-0.15, systole 0.15-0.45, S2 0.45-0.6, diastole 0.6-1
CYCLE = [(0.0, 0.15, S1), (0.15, 0.45, SYSTOLE), (0.45, 0.6, S2), (0.6, 1.0, DIASTOLE)]
ROWS = [(k + a, k + b, s) for k in range(int(SECONDS)) for a, b, s in CYCLE]


def _rgb(h: str) -> np.ndarray:
    return np.array([int(h[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


#: each state's band colour over white
BLENDED = {s: 255 * (1 - PHASE_ALPHA[s]) + _rgb(c) * PHASE_ALPHA[s]
           for s, c in PHASE_COLOURS.items()}


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _tone(hz: float) -> np.ndarray:
    t = np.arange(int(SECONDS * SR)) / SR
    return 0.5 * np.sin(2 * np.pi * hz * t)


def _quiet() -> np.ndarray:
    """A faint 300 Hz tone and one click: the waveform stays near the zero line, so the
    bands are seen over white near the panel's top."""
    y = 1e-4 * np.random.default_rng(2).normal(size=int(SECONDS * SR)) + 0.02 * _tone(300)
    y[SR // 2] = 1.0
    return y


def _result(task: str, labels: tuple[str, ...], probs: tuple[float, ...], *,
            mapped: bool) -> ClassificationResult:
    """A classifier output with a time x frequency map (``mapped``, CNN: peak at 2-3 s,
    100-300 Hz) or attention over time only (GRU: peak at 5 s)."""
    times = np.arange(0.0, SECONDS, 0.02)
    if mapped:
        freqs = np.linspace(30, 990, 40)
        att = np.zeros((times.size, freqs.size))
        att[(times >= 2) & (times < 3), :] = 0.1
        att[np.ix_((times >= 2) & (times < 3), (freqs > 100) & (freqs < 300))] = 1.0
        spec = np.random.default_rng(0).normal(size=att.shape)
    else:
        freqs, spec = None, None
        att = np.exp(-0.5 * ((times - 5.0) / 0.3) ** 2)
    return ClassificationResult(task=task, label=labels[int(np.argmax(probs))],
                                probabilities=dict(zip(labels, probs)), model=f"{task}:test",
                                attention=att / att.sum(), attention_times_s=times,
                                attention_freqs_hz=freqs, spectrogram=spec)


def _analysis(y: np.ndarray | None = None, *, tasks: dict[str, TaskResult] | None = None,
              segmented: bool = True, source: str = "rec.wav") -> Analysis:
    y = _quiet() if y is None else y
    rec = Recording(y=y, sr=SR, source=source)
    n = int(SECONDS * 50)
    seg = Segmentation(rows_to_states(ROWS, 50.0, n), 50.0, "annotation", 60.0, 0.3) \
        if segmented else None
    return Analysis(recording=rec, quality=assess(y, SR), segmentation=seg,
                    requested_segmenter="neural", classification=tasks or {})


def _tasks(n: int, *, mapped: bool = True, timed: bool = False,
           unavailable: bool = False) -> dict[str, TaskResult]:
    out = {}
    if n >= 1:
        out["murmur"] = TaskResult("murmur", _result("murmur", ("Present", "Unknown", "Absent"),
                                                     (0.7, 0.1, 0.2), mapped=mapped))
    if n >= 2:
        out["abnormal"] = TaskResult("abnormal", _result("abnormal", ("normal", "abnormal"),
                                                         (0.3, 0.7), mapped=not timed))
    if n >= 3:
        out["severity"] = (TaskResult("severity", None, True, "classifier unavailable")
                           if unavailable else
                           TaskResult("severity", _result("severity", ("a", "b", "c"),
                                                          (0.2, 0.3, 0.5), mapped=False)))
    return out


def _wave_column(t: float) -> int:
    return int(X0 + t / SECONDS * (X1 - X0))


def test_png_is_990_by_765_with_the_title_drawn():
    a = _analysis()
    img = _pixels(figure_png(a))
    assert img.shape == (H, W, 3)
    title = img[5:22, int(X0):int(X0) + 300]   # the title line above the panels
    assert (title.sum(axis=2) < 200).sum() > 100   # dark text pixels
    assert (img[5:22, :int(X0) - 3] == 255).all()  # nothing left of its start
    other = _pixels(figure_png(_analysis(source="another_name.wav")))
    assert not np.array_equal(other[5:22], img[5:22])


def test_waveform_columns_carry_the_colour_of_their_state():
    a = _analysis()
    img = _pixels(figure_png(a))
    row = int(WAVE_TOP) + 8
    for k in range(int(SECONDS)):
        for start, end, s in CYCLE:
            col = _wave_column(k + (start + end) / 2)
            assert np.abs(img[row, col] - BLENDED[s]).max() <= 2, (k, s)


def test_spectrogram_is_not_blank_and_brightest_at_the_tone():
    a = _analysis(_tone(300.0))
    img = _pixels(figure_png(a))
    top, bottom = 0.09 * H + (0.74 * H / 3.9) * 1.45, 0.09 * H + (0.74 * H / 3.9) * 2.65
    panel = img[int(top) + 2:int(bottom) - 2, int(X0) + 2:int(X1) - 2]
    assert panel.std() > 20
    bright = panel.sum(axis=2).mean(axis=1)
    r = int(np.argmax(bright)) + int(top) + 2
    # STFT bins of 256 samples at 2 kHz up to 800 Hz; y limits half a bin beyond them
    df = SR / 256
    lo, hi = -df / 2, int(800 / df) * df + df / 2
    f = hi - (r + 0.5 - top) / (bottom - top) * (hi - lo)
    assert f == pytest.approx(300, abs=12)


@pytest.mark.parametrize("case", ["none", "one", "two-gru", "three-unavailable",
                                  "unsegmented", "surrogate-name", "non-ascii-name"])
def test_every_layout_renders(case):
    tasks = {"none": None, "one": _tasks(1), "two-gru": _tasks(2, timed=True),
             "three-unavailable": _tasks(3, unavailable=True)}.get(case, _tasks(3))
    source = {"surrogate-name": "rec_\udcff\udcfe.wav",
              "non-ascii-name": "Bücher_心音_é.wav"}.get(case, "rec.wav")
    a = _analysis(tasks=tasks, segmented=case != "unsegmented", source=source)
    img = _pixels(figure_png(a))
    assert img.shape == (H, W, 3)
    if case in ("one", "three-unavailable"):       # CNN map: cyan contours
        assert (img == (0, 229, 255)).all(axis=2).sum() > 50
    if case == "two-gru":                          # GRU curve over the waveform
        wave = img[int(WAVE_TOP):int(WAVE_TOP) + 140, int(X0):int(X1)]
        assert (np.abs(wave - _rgb("#2ca02c")).max(axis=2) <= 2).sum() > 50
    line = img[int(WAVE_TOP) + 8, int(X0) + 5:int(X1) - 5]
    banded = min(np.abs(line - c).max(axis=1).min() for c in BLENDED.values()) <= 2
    assert banded == (case != "unsegmented")


def test_writing_a_png_does_not_import_matplotlib(tmp_path):
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from heartsound import analyze
        from heartsound.report import write_outputs
        y = 0.3 * np.sin(2 * np.pi * 60 * np.arange(8000) / 2000)
        write_outputs(analyze(y, sr=2000, tasks=()), sys.argv[1], "x", png=True, html=True)
        assert "matplotlib" not in sys.modules, "matplotlib imported"
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    img = Image.open(tmp_path / "x.heartsound.png")
    assert img.size == (W, H)


def test_raster_agrees_with_the_matplotlib_figure():
    """Phase colour per waveform column: the same in both renderings but within 2 px of
    each band edge; the spectrogram panel's brightest row within 3 px."""
    pytest.importorskip("matplotlib")
    from heartsound.plotting import plot, png_bytes

    a = _analysis()
    new, old = _pixels(figure_png(a)), _pixels(png_bytes(plot(a), dpi=90))
    assert new.shape == old.shape == (H, W, 3)
    row = int(WAVE_TOP) + 8
    states = list(BLENDED)
    ref = np.stack([BLENDED[s] for s in states])

    def phase(img: np.ndarray) -> np.ndarray:
        line = img[row, int(X0) + 2:int(X1) - 2]
        return np.argmin(np.abs(line[:, None, :] - ref[None]).sum(axis=2), axis=1)

    pn, po = phase(new), phase(old)
    edges = np.nonzero(np.diff(po))[0]
    near_edge = np.min(np.abs(np.arange(pn.size)[:, None] - edges[None]), axis=1) <= 2
    assert (pn == po)[~near_edge].all()
    top = int(0.09 * H + (0.74 * H / 3.9) * 1.45) + 2
    spec = slice(top, int(0.09 * H + (0.74 * H / 3.9) * 2.65) - 2), \
        slice(int(X0) + 2, int(X1) - 2)
    assert abs(int(np.argmax(new[spec].sum(axis=2).mean(axis=1)))
               - int(np.argmax(old[spec].sum(axis=2).mean(axis=1)))) <= 3


def test_magma_table_equals_matplotlibs():
    mpl = pytest.importorskip("matplotlib")
    from heartsound.plotting.colormap import MAGMA, colour_index

    table = mpl.colormaps["magma"](np.arange(256), bytes=True)[:, :3]
    assert np.array_equal(MAGMA, table)
    v = np.array([-1.0, 0.0, 0.5, 0.999, 1.0, 2.0])
    norm = mpl.colors.Normalize(0.0, 1.0)
    assert np.array_equal(MAGMA[colour_index(v, 0.0, 1.0)],
                          mpl.colormaps["magma"](norm(v), bytes=True)[:, :3])


@pytest.mark.parametrize("lo,hi,nbins", [(0, 20.3, 9), (-1.05, 1.05, 5), (-3.9, 804, 6),
                                         (0, 3600, 9), (15.2, 1010.7, 6), (-0.72, 0.31, 4),
                                         (0, 1, 9)])
def test_ticks_and_labels_as_matplotlib(lo, hi, nbins):
    mticker = pytest.importorskip("matplotlib.ticker")

    loc = mticker.MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10])
    want = [t for t in loc.tick_values(lo, hi) if lo - 1e-9 <= t <= hi + 1e-9]
    got = auto_ticks(lo, hi, nbins)
    assert got == pytest.approx(want)
    assert tick_labels([0.0, 2.5, 5.0]) == ["0.0", "2.5", "5.0"]
    assert tick_labels([-1.0, -0.5, 0.0]) == ["\u22121.0", "\u22120.5", "0.0"]
    assert tick_labels([200.0, 400.0]) == ["200", "400"]


def test_without_matplotlibs_font_pillows_default_is_used(monkeypatch):
    from heartsound.plotting import raster

    monkeypatch.setattr(raster, "_font_file", lambda: None)
    monkeypatch.setattr(raster, "_FONTS", __import__("threading").local())
    raster._metrics.cache_clear()
    try:
        img = _pixels(figure_png(_analysis(tasks=_tasks(1))))
    finally:
        raster._metrics.cache_clear()
    assert img.shape == (H, W, 3)
    assert (img[5:22, int(X0):int(X0) + 300].sum(axis=2) < 200).sum() > 50  # title drawn


def test_threads_draw_the_same_png():
    from concurrent.futures import ThreadPoolExecutor

    analyses = [_analysis(tasks=_tasks(k)) for k in (1, 2, 3)] * 2
    alone = [figure_png(a) for a in analyses]
    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(figure_png, analyses, timeout=60)) == alone


@pytest.mark.parametrize("sr", [2000, 4000, 44100])
def test_spectrogram_resolution_does_not_depend_on_the_rate(sr):
    """At 44.1 kHz a 256-sample STFT would give 172 Hz bins (5 rows up to 800 Hz): the
    plain spectrogram is computed at 2 kHz whatever the input rate."""
    from heartsound.plotting.scene import spectrogram_db

    t = np.arange(int(4.0 * sr)) / sr
    ts, f, db, vmin, vmax = spectrogram_db(0.5 * np.sin(2 * np.pi * 300.0 * t), sr, 400)
    assert f[1] - f[0] == pytest.approx(2000 / 256)
    assert f[0] >= 0 and f[-1] <= 800
    assert f[int(np.argmax(db.mean(axis=0)))] == pytest.approx(300, abs=8)
    assert ts[-1] == pytest.approx(4.0, abs=0.15)


def test_a_recording_without_heart_sounds_says_not_assessable_not_unavailable():
    from heartsound.plotting.scene import UNAVAILABLE_TEXT, probability_panel

    why = ("not assessable: no heart sounds found: 0% of the recording holds repeating "
           "sounds that stand out from their surroundings")
    p = probability_panel("murmur", {"available": True, "label": None, "probabilities": None,
                                     "assessable": False, "reason": why})
    assert not p.available
    assert p.empty_text.replace("\n", " ") == "not assessable: no heart sounds found"
    gone = probability_panel("murmur", {"available": False, "label": None,
                                        "probabilities": None, "reason": "model missing"})
    assert gone.empty_text == UNAVAILABLE_TEXT


@pytest.mark.parametrize("sr", [2000, 44100])
def test_web_spectrogram_image_is_sharp_at_any_rate(sr):
    """The web app's bare spectrogram (``/api/spectrogram``): a 300 Hz tone lights the
    row of 300 Hz (0 Hz at the bottom, 800 Hz at the top) within a bin, at 2 kHz and at
    44.1 kHz input alike."""
    from heartsound.web.signals import spectrogram_png

    t = np.arange(int(4.0 * sr)) / sr
    img = _pixels(spectrogram_png(0.5 * np.sin(2 * np.pi * 300.0 * t), sr, width=200,
                                  height=160))
    assert img.shape == (160, 200, 3)
    row = int(np.argmax(img.sum(axis=2).mean(axis=1)))
    f = (159 - row) / 159 * 800
    assert f == pytest.approx(300, abs=10)
