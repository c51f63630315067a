"""What the session-11 output audit left (docs/results/figure_audit_s12.md): attention
drawn over digitally silent stretches, the murmur decision severity's rule reads shown
nowhere with ``--tasks abnormal,severity``, an ungraded severity's map of a grade not
reported, 600 s figures too dense to read, blank strips at the ends of a short
recording's log-Mel.

Known answers: analyses assembled by hand (known segmentation, hand-made classifier
outputs, as ``test_render.py``), pixel positions from the figure's layout fractions.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_render import _pixels, _rgb

from heartsound.classification.decision import Decision
from heartsound.classification.inference import ClassificationResult
from heartsound.io import Recording
from heartsound.pipeline import Analysis, TaskResult
from heartsound.plotting import figure_png
from heartsound.plotting.raster import Panel
from heartsound.plotting.scene import CONTOUR_COLOUR, TIMED_COLOUR, grid_boxes
from heartsound.plotting.view import (GRID_LONG, LONG_S, WINDOW_COLOUR, ZOOM_S, figure_view)
from heartsound.quality import assess, measure
from heartsound.quality_silence import no_signal_note, no_signal_spans, quiet_frames
from heartsound.segmentation.result import Segmentation, rows_to_states
from heartsound.vocab import DIASTOLE, S1, S2, SYSTOLE

SR = 2000
W, H = 990, 765
CYCLE = [(0.0, 0.15, S1), (0.15, 0.45, SYSTOLE), (0.45, 0.6, S2), (0.6, 1.0, DIASTOLE)]
#: the silent stretch of :func:`_gapped`
GAP = (4.0, 7.0)


def _signal(seconds: float, gap: tuple[float, float] | None = None) -> np.ndarray:
    """Noise with a click per second; exact zeros over ``gap``."""
    n = int(seconds * SR)
    y = 0.02 * np.random.default_rng(1).normal(size=n)
    y[::SR] = 0.9
    if gap is not None:
        y[int(gap[0] * SR):int(gap[1] * SR)] = 0.0
    return y


def _timed(task: str, seconds: float, *, label: str = "Present") -> ClassificationResult:
    """A GRU-like result: attention over time only, flat (so it is drawn everywhere)."""
    t = np.arange(0.0, seconds, 0.02)
    return ClassificationResult(task=task, label=label, probabilities={label: 1.0},
                                model="t", attention=np.full(t.size, 1.0 / t.size),
                                attention_times_s=t)


def _mapped(task: str, seconds: float, *, t0: float = 0.0, hop: float = 0.064,
            peak_at: float | None = None, decision: Decision | None = None,
            label: str = "mild", attention_label: str | None = None) -> ClassificationResult:
    """A CNN-like result (time x frequency map: high at 100-300 Hz, the same at every
    time or peaked at ``peak_at`` s)."""
    t = np.arange(t0, seconds, hop)
    f = np.linspace(30, 990, 16)
    att = np.ones((t.size, f.size))
    att[:, (f > 100) & (f < 300)] = 10.0
    if peak_at is not None:
        att[np.abs(t - peak_at) < 1.0] = 50.0
    spec = np.random.default_rng(0).normal(size=att.shape)
    return ClassificationResult(task=task, label=label, probabilities={label: 1.0},
                                model="m", attention=att / att.sum(), attention_times_s=t,
                                attention_freqs_hz=f, spectrogram=spec, decision=decision,
                                attention_label=attention_label)


def _analysis(y: np.ndarray, tasks: dict[str, TaskResult],
              gap: tuple[float, float] | None = None) -> Analysis:
    """Cycles of 1 s, none in ``gap`` (as the segmenter leaves a silent stretch)."""
    seconds = y.size / SR
    rows = [(k + a, k + b, s) for k in range(int(seconds)) for a, b, s in CYCLE
            if gap is None or not gap[0] - 1 < k < gap[1]]
    seg = Segmentation(rows_to_states(rows, 50.0, int(seconds * 50)), 50.0, "annotation",
                       60.0, 0.3)
    return Analysis(recording=Recording(y=y, sr=SR, source="rec.wav"),
                    quality=assess(y, SR), segmentation=seg, requested_segmenter="neural",
                    classification=tasks)


def _boxes(n_tasks: int, long: bool = False):
    """Waveform, spectrogram, probability and (``long``) overview boxes."""
    b = grid_boxes(n_tasks, W, H, GRID_LONG) if long else grid_boxes(n_tasks, W, H)
    return (*b[:3], b[3] if len(b) > 3 else None)


def _column(box, xlim, t: float) -> int:
    p = Panel.at(box)
    p.xlim = xlim
    return int(p.x(t))


# --- 1. stretches without signal -----------------------------------------------------

def test_no_signal_is_the_quality_checks_near_silence():
    """One criterion: the quality measure's quiet share is the share of the frames that
    make the no-signal stretches; the stretch of exact zeros is found to the frame."""
    y = _signal(10.0, GAP)
    _, quiet = quiet_frames(y, SR)
    assert measure(y, SR)["quiet_share"] == pytest.approx(float(np.mean(quiet)))
    assert no_signal_spans(y, SR) == [pytest.approx(GAP)]
    assert no_signal_spans(_signal(10.0), SR) == []
    assert no_signal_spans(_signal(10.0, (4.0, 4.3)), SR) == []  # shorter than 0.5 s
    note = no_signal_note(no_signal_spans(y, SR), 10.0)
    assert note.startswith("3.0 s (30% of the recording) hold no signal (4.0-7.0 s)")
    from heartsound.plotting.scene import caveat_lines

    d = {"quality": {"notes": {"no_signal": note}}, "classification": {"murmur": {}}}
    assert caveat_lines(d) == [f"note: {note}"]  # first among the figure's caveats


def test_no_attention_drawn_over_silence_and_the_stretch_is_labelled():
    """The attention curve over the waveform and the contours on the log-Mel stopped
    at nothing: over 3 s of exact zeros the curve sat at its level and the contours
    covered the gap. Now neither is drawn there, the stretch is shaded; elsewhere both
    are."""
    seconds = 10.0
    a = _analysis(_signal(seconds, GAP), {
        "murmur": TaskResult("murmur", _timed("murmur", seconds)),
        "severity": TaskResult("severity", _mapped("severity", seconds))}, GAP)
    img = _pixels(figure_png(a))
    wave, spec, _, _ = _boxes(2)
    green = np.abs(img - _rgb(TIMED_COLOUR)).max(axis=2) <= 2
    cyan = (img == np.array(_rgb(CONTOUR_COLOUR))).all(axis=2)
    xl = (0.0, seconds)
    inside = slice(_column(wave, xl, GAP[0] + 0.2), _column(wave, xl, GAP[1] - 0.2))
    outside = slice(_column(wave, xl, 1.0), _column(wave, xl, 3.5))
    rows_w = slice(int(wave[1]), int(wave[3]))
    rows_s = slice(int(spec[1]), int(spec[3]))
    assert green[rows_w, inside].sum() == 0 and green[rows_w, outside].sum() > 50
    assert cyan[rows_s, inside].sum() == 0 and cyan[rows_s, outside].sum() > 50
    # shaded: the white above the flat line is grey there (12 % black over white)
    top = int(wave[1]) + 4
    assert (np.abs(img[top, inside] - 224).max(axis=1) <= 2).mean() > 0.9


def test_matplotlib_draws_no_attention_over_silence_either():
    pytest.importorskip("matplotlib")
    from heartsound.plotting import plot

    seconds = 10.0
    a = _analysis(_signal(seconds, GAP), {
        "murmur": TaskResult("murmur", _timed("murmur", seconds))}, GAP)
    fig = plot(a)
    xs = np.concatenate([ln.get_xdata() for ax in fig.axes for ln in ax.get_lines()
                         if ln.get_color() == TIMED_COLOUR])
    assert xs.size > 100
    assert not ((xs > GAP[0] + 0.05) & (xs < GAP[1] - 0.05)).any()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("no signal") == 2  # waveform and spectrogram panels


@pytest.mark.slow
def test_analyze_notes_a_silent_stretch():
    """A recording with 3 s of inserted zeros is analysed with a note saying where, and
    the stretch as data (``quality.no_signal_s``, for the web app's viewer)."""
    import heartsound

    y = _signal(12.0, GAP)
    d = heartsound.analyze(y, sr=SR, tasks=(), evidence=False).to_dict()
    assert "4.0-7.0 s" in d["quality"]["notes"]["no_signal"]
    assert d["quality"]["no_signal_s"] == [pytest.approx(list(GAP))]
    d = heartsound.analyze(_signal(12.0), sr=SR, tasks=(), evidence=False).to_dict()
    assert "no_signal" not in d["quality"].get("notes", {})


# --- 2. murmur shown when severity reads it ------------------------------------------

@pytest.mark.slow
def test_severity_without_murmur_shows_the_murmur_it_read():
    """``--tasks abnormal,severity``: severity's rule speaks of the murmur decision,
    which was reported nowhere. It is now in the result, marked as not asked for, in
    the console, the HTML and the figure; its attention is not drawn (not asked for)."""
    import heartsound
    from heartsound.cli.analyze import format_summary
    from heartsound.plotting.scene import attention_results, probability_panel
    from heartsound.report import html_report

    a = heartsound.analyze(heartsound.example_path(), tasks=("abnormal", "severity"),
                           evidence=False)
    d = a.to_dict()
    assert list(d["classification"]) == ["abnormal", "murmur", "severity"]
    m = d["classification"]["murmur"]
    assert m["computed_for"] == "severity" and m["probabilities"]
    assert "computed_for" not in d["classification"]["severity"]
    sev_rule = d["classification"]["severity"]["decision"]["rule"]
    assert sev_rule.startswith(f"murmur {m['label']}")  # the decision it read is shown
    assert "[not asked: run for severity]" in format_summary(d)
    assert "(not asked: run for severity)" in html_report(d)
    assert probability_panel("murmur", m).title.endswith("(for severity)")
    mapped, timed = attention_results(a)
    assert all(r is None or r.task != "murmur" for r in (mapped, timed))
    full = heartsound.analyze(heartsound.example_path(), evidence=False).to_dict()
    assert "computed_for" not in full["classification"]["murmur"]


# --- 3. an ungraded severity's map ----------------------------------------------------

UNGRADED = Decision(label="normal", score_name="murmur", score=None, threshold=None,
                    rule="murmur Absent (P(Present) 0.02 < 0.30) -> not graded -> normal",
                    graded=False)


def test_ungraded_severity_map_is_not_drawn_and_the_title_says_why():
    """c0031: severity "normal (not graded)" and the spectrogram showed the attention
    for 'mild' (the model's own grade). Now the log-Mel is drawn alone, titled why,
    in both renderers."""
    from heartsound.plotting.scene import attention_title

    seconds = 10.0
    r = _mapped("severity", seconds, decision=UNGRADED, label="normal",
                attention_label="mild")
    a = _analysis(_signal(seconds), {"severity": TaskResult("severity", r)})
    img = _pixels(figure_png(a))
    assert (img == np.array(_rgb(CONTOUR_COLOUR))).all(axis=2).sum() == 0
    v = figure_view(a)
    assert not v.map_drawn
    title = attention_title(r, v.map_drawn)
    assert "'mild'" not in title and "not drawn: severity not graded (murmur Absent)" in title
    graded = _mapped("severity", seconds, label="mild", attention_label="moderate_severe")
    assert "for 'moderate_severe' (its most probable class; reported: 'mild')" in \
        attention_title(graded)
    assert "reported" not in attention_title(_mapped("severity", seconds))
    pytest.importorskip("matplotlib")
    from heartsound.plotting import plot

    fig = plot(a)
    assert not any(ax.collections and type(c).__name__ == "QuadContourSet"
                   for ax in fig.axes for c in ax.collections)
    assert any("not drawn" in ax.get_title() for ax in fig.axes)


# --- 4. long recordings: an overview and a readable zoom ------------------------------

def test_long_recording_gets_an_overview_and_a_zoom_on_the_attention():
    """600 s: bands 1-3 px wide. Over :data:`LONG_S` the panels show a :data:`ZOOM_S`
    window (the one holding the most attention) and an overview strip boxes it."""
    seconds = 90.0
    peak = 61.0
    r = _mapped("severity", seconds, peak_at=peak)
    a = _analysis(_signal(seconds), {"severity": TaskResult("severity", r)})
    v = figure_view(a)
    assert seconds > LONG_S and v.zoomed and v.t1 - v.t0 == pytest.approx(ZOOM_S)
    assert v.t0 + 6 <= peak <= v.t1 - 6  # in the middle of the window
    assert v.y.size == pytest.approx(ZOOM_S * SR, abs=2)
    img = _pixels(figure_png(a))
    wave, _, _, over = _boxes(1, long=True)
    xl = (v.y_t0, v.y_t0 + v.y.size / SR)
    # each 0.3 s systole of the zoom is ~17 px wide (was 3 px over 90 s)
    row = int(wave[1]) + 6
    cycle = int(np.ceil(v.t0)) + 1
    a0, a1 = _column(wave, xl, cycle + 0.15), _column(wave, xl, cycle + 0.45)
    assert a1 - a0 >= 15
    line = img[row, a0 + 2:a1 - 2]
    assert (np.abs(line - line[0]).max(axis=1) <= 2).all()  # one band colour across
    orange = (np.abs(img - _rgb(WINDOW_COLOUR)).max(axis=2) <= 2)
    cols = np.flatnonzero(orange[int(over[1]):int(over[3])].any(axis=0))
    ox = (0.0, seconds)
    assert abs(cols.min() - _column(over, ox, v.t0)) <= 2
    assert abs(cols.max() - _column(over, ox, v.t1)) <= 3
    short = _analysis(_signal(30.0), {})
    assert not figure_view(short).zoomed


def test_long_recording_renderers_agree():
    """The matplotlib figure shows the same window, overview and grid."""
    pytest.importorskip("matplotlib")
    from heartsound.plotting import plot

    seconds = 90.0
    a = _analysis(_signal(seconds), {
        "severity": TaskResult("severity", _mapped("severity", seconds, peak_at=20.0))})
    v = figure_view(a)
    fig = plot(a)
    xlims = [ax.get_xlim() for ax in fig.axes]
    assert (0.0, seconds) in [tuple(np.round(x, 6)) for x in xlims]  # the overview
    zoom = [x for x in xlims if x[1] - x[0] < seconds / 2 and x != (0.0, 1.0)]  # not bars
    assert zoom and all(x == pytest.approx((v.y_t0, v.y_t0 + v.y.size / SR)) for x in zoom)
    assert any(ax.get_title().startswith("whole recording (90 s)") for ax in fig.axes)


# --- 5. short recordings: the log-Mel reaches both ends ---------------------------------

@pytest.mark.parametrize("mapped", [True, False])
def test_short_recording_spectrogram_reaches_both_ends(mapped):
    """1.2 s: the cells started at the first frame's centre less half a step, leaving
    white strips at both ends (frames 64 ms apart from 64 ms, as the severity model's)."""
    seconds = 1.2
    tasks = {"severity": TaskResult("severity", _mapped("severity", 1.1, t0=0.064))} \
        if mapped else {}
    a = _analysis(_signal(seconds), tasks)
    img = _pixels(figure_png(a))
    _, spec, _, _ = _boxes(max(1, len(tasks)))
    mid = (int(spec[1]) + int(spec[3])) // 2
    x0, x1 = round(spec[0]), round(spec[2])
    for x in (x0, x0 + 1, x1 - 2, x1 - 1):
        assert img[mid - 20:mid + 20, x].min() < 250, x  # not white
    pytest.importorskip("matplotlib")
    from heartsound.plotting import plot, png_bytes

    old = _pixels(png_bytes(plot(a), dpi=90))
    for x in (x0 + 1, x1 - 2):
        assert old[mid - 20:mid + 20, x].min() < 250, x


@pytest.mark.slow
@pytest.mark.corpus
def test_web_viewer_greys_the_stretches_without_signal(tmp_path, data_root):
    """The web app's viewer draws the result's ``quality.no_signal_s`` as the figure does
    (grey, "no signal") and its quality panel prints the note; a real recording with 6 s
    of zeros inserted, uploaded in headless Chromium."""
    import soundfile as sf
    from test_web_browser import ARGS, CHROMIUM, _playwright

    from heartsound.web.launch import served

    y, sr = sf.read(data_root / "circor2022/recordings/9979_AV.flac", dtype="int16")
    half = y.size // 2
    path = tmp_path / "gapped.flac"
    sf.write(path, np.concatenate([y[:half], np.zeros(6 * sr, np.int16), y[half:]]), sr,
             subtype="PCM_16")
    gap = (half / sr, half / sr + 6.0)
    sync_playwright = _playwright()
    errors: list[str] = []
    with served(None, log_dir=tmp_path) as s, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(s.url + "/")
            page.set_input_files("#upload", str(path))
            page.wait_for_function("window.heartsound.firstPaint !== null && "
                                   "window.heartsound.id.startsWith('upload:')",
                                   timeout=60_000)
            spans = page.evaluate("window.heartsound.viewer.noSignal")
            rgba = page.evaluate("""([t]) => {
                const v = window.heartsound.viewer, dpr = devicePixelRatio;
                return [...v.base.getContext('2d').getImageData(
                    Math.round(v.x(t)) * dpr, 6 * dpr, 1, 1).data];
            }""", [sum(gap) / 2])
            quality = page.text_content("#quality")
        finally:
            browser.close()
    assert not errors, errors
    assert len(spans) == 1 and spans[0] == pytest.approx(gap, abs=0.03)
    over_white = [c * rgba[3] / 255 + 255 * (1 - rgba[3] / 255) for c in rgba[:3]]
    assert all(abs(c - 224) <= 3 for c in over_white), rgba  # 12 % black over the page
    assert "no_signal: 6.0 s" in quality
