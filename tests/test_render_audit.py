"""What a new user tripped on in the figures (docs/results/figure_audit_s11.md): value
texts of the probability bars drawn over the threshold mark or the spread bar, and long
file names running off the report title or into the segmentation figure's legend.

Known answers: the bar positions are those of real recordings of the audit (CirCor
29378_MV and 9979_PV mixed to stereo); text widths are measured with the raster's own
font (DejaVu Sans, as matplotlib).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_render import _pixels
from test_render_segment import Y0

from heartsound.plotting.raster import Canvas
from heartsound.plotting.scene import (
    GRID,
    VALUE_TEXT_WIDTH,
    ProbabilityPanel,
    short_name,
    title_text,
)

#: (value, threshold, spread low, spread high) of the decision bar, from the audit's runs
DECISION_BARS = [
    (0.75, 0.85, 0.59, 0.86),   # 29378_MV abnormal: text was over the threshold
    (0.84, 0.85, 0.66, 0.93),   # stereo abnormal: over the threshold and the spread
    (0.53, 0.30, 0.14, 0.84),   # stereo murmur: over the spread bar
    (0.12, 0.30, 0.08, 0.19),   # 29378_MV murmur: over the spread bar's end
    (0.98, 0.85, 0.97, 0.98),   # c0031 abnormal: over the threshold (text inside the bar)
    (1.00, 0.30, 0.99, 1.00),   # 9979_PV murmur
    (0.00, 0.30, 0.00, 0.00),
]


@pytest.mark.parametrize("v,thr,lo,hi", DECISION_BARS)
def test_value_text_clears_the_bar_end_threshold_and_spread(v, thr, lo, hi):
    p = ProbabilityPanel("t", "t", ["a", "b"], [v, 1 - v], ["k", "k"],
                         threshold=(0, thr), interval=(0, v, lo, hi))
    x = p.value_x(0, v)
    a, b = x, x + VALUE_TEXT_WIDTH
    assert 0.0 <= a and b <= 1.0
    assert not a <= thr <= b
    assert b < lo or a > hi
    assert not a <= v <= b
    x1 = p.value_x(1, 1 - v)  # the other bar has no marks: clear of its own end only
    assert not x1 <= 1 - v <= x1 + VALUE_TEXT_WIDTH


def test_matplotlib_panel_puts_value_texts_where_the_raster_does():
    pytest.importorskip("matplotlib")
    from heartsound.plotting import plot_probabilities

    c = {"label": "normal", "probabilities": {"normal": 0.25, "abnormal": 0.75},
         "decision": {"score_name": "P(abnormal)", "score": 0.75, "threshold": 0.85,
                      "interval": [0.59, 0.86], "rule": "P(abnormal) 0.75 < 0.85 -> normal"}}
    ax = plot_probabilities("abnormal", c)
    xs = {t.get_text(): t.get_position()[0] for t in ax.texts}
    assert xs["0.75"] > 0.86 and xs["0.25"] == pytest.approx(0.27)


def test_short_name_keeps_start_and_end():
    assert short_name("a0001.wav") == "a0001.wav"
    long = "patient_0042_left_parasternal_second_intercostal_space_take_3.wav"
    s = short_name(long)
    assert len(s) == 44 and s.startswith("patient_0042_left_") and s.endswith("take_3.wav")
    assert "\u2026" in s


def test_report_title_of_a_long_name_fits_the_figure():
    name = "patient_0042_left_parasternal_second_intercostal_space_supine_after_exercise" \
           "_recording_take_3.wav"
    d = {"source": f"/data/{name}", "duration_s": 122.0, "heart_rate_bpm": 158.0,
         "n_cycles": 134, "segmentation": {"method": "springer2016"},
         "quality": {"usable": False, "score": 0.17}}
    title = title_text(d)
    assert title.endswith("quality NOT usable (0.17)") and "take_3.wav" in title
    c = Canvas(990, 765, 90)
    assert GRID["left"] * 990 + c.text_box(title, 10)[0] < 990


def test_segment_title_of_a_long_name_stays_clear_of_the_legend(tmp_path):
    """``heartsound segment`` on a long-named file: the title's pixels (the PNG against
    one drawn without a title) end left of the legend's first patch."""
    import heartsound.segmentation.plot as splot
    from heartsound.cli import main
    from heartsound.example import example_path
    from heartsound.segmentation.plot import segmentation_png

    stem = "patient_0042_left_parasternal_second_intercostal_space_supine_take_3"
    shutil.copy(example_path(), tmp_path / f"{stem}.flac")
    seen = {}

    def spy(y, sr, seg, *, title=None, **kw):
        seen.update(y=y, sr=sr, seg=seg, title=title)
        return segmentation_png(y, sr, seg, title=title, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(splot, "segmentation_png", spy)
    try:
        assert main(["segment", str(tmp_path / f"{stem}.flac"), "--out",
                     str(tmp_path / "o")]) == 0
    finally:
        mp.undo()
    with_title = _pixels(segmentation_png(seen["y"], seen["sr"], seen["seg"],
                                          title=seen["title"]))
    no_title = _pixels(segmentation_png(seen["y"], seen["sr"], seen["seg"], title=""))
    top = slice(0, Y0 - 2)
    title_cols = np.nonzero((with_title[top] != no_title[top]).any(axis=(0, 2)))[0]
    legend_cols = np.nonzero((no_title[top] != 255).any(axis=(0, 2)))[0]
    assert title_cols.size and legend_cols.size
    assert title_cols.max() < legend_cols.min()


def _entry(**kw):
    base = {"available": True, "label": "Absent", "uncertain": False,
            "probabilities": {"Present": 0.1, "Unknown": 0.2, "Absent": 0.7}}
    return {**base, **kw}


def test_summary_csv_labels_say_what_the_report_says():
    """``summary.csv`` (``heartsound batch``): a recording without heart sounds is "not
    assessable" as in the figure and HTML (it said "unavailable", the word for a model
    that could not run); severity of an unknown murmur is "not assessable", not empty."""
    from heartsound.batch import summary_row

    no_beats = {"available": False, "label": None, "probabilities": {}, "uncertain": True,
                "assessable": False, "reason": "not assessable: no heart sounds found: 0%"}
    no_model = {"available": False, "label": None, "probabilities": {}, "uncertain": True,
                "reason": "model file missing"}
    d = {"duration_s": 9.0, "sr": 44100, "heart_rate_bpm": None, "n_cycles": 0,
         "quality": {"usable": False, "score": 0.1, "reasons": [], "notes": {}},
         "segmentation": {"method": "neural"},
         "classification": {"abnormal": no_beats, "murmur": no_model,
                            "severity": _entry(label=None, probabilities={
                                "normal": 0.5, "mild": 0.3, "moderate_severe": 0.2})}}
    row = summary_row(d, "x.flac")
    assert row["abnormal_label"] == "not assessable"
    assert row["murmur_label"] == "unavailable"
    assert row["severity_label"] == "not assessable" and row["severity_p_mild"] == 0.3
    d["classification"] = {"murmur": _entry()}
    assert summary_row(d, "x.flac")["murmur_label"] == "Absent"


def test_html_evidence_table_signs_agree_with_the_console():
    """The HTML's occlusion table and the console's ``evidence:`` line show the same
    signed change per phase (the table showed the drop, +0.92 where the console said
    -0.92, under a note calling it the change)."""
    import re

    from heartsound import analyze
    from heartsound.classification.decision import evidence_text
    from heartsound.example import synthetic_pcg
    from heartsound.report import html_report

    y, _ = synthetic_pcg(seconds=10.0, seed=7)
    d = analyze(y, sr=2000).to_dict()
    page = html_report(d)
    seen = 0
    for c in d["classification"].values():
        line = evidence_text(c.get("evidence_by_phase"))
        if not line:
            continue
        for ph, change in re.findall(r"(S1|systole|S2|diastole) ([+-]\d\.\d\d) \(", line):
            drop = c["evidence_by_phase"][ph]["drop"]
            assert change == f"{-drop:+.2f}" and f"<td>{change} (" in page
            seen += 1
    assert seen >= 4
    assert "negative: the phase held evidence" in page


def test_calibrated_decision_keeps_its_threshold_and_spread_on_the_bar():
    """With ``--calibration`` the murmur panel lost its threshold mark and spread bar (the
    score is named ``site-calibrated P(Present)``); the bar shows that calibrated
    probability, so both go on it. A score that is not the bar's value gets no mark."""
    from heartsound.plotting.scene import probability_panel

    dec = {"score_name": "site-calibrated P(Present)", "score": 0.020782, "threshold": 0.5,
           "interval": [0.011406, 0.034508], "rule": "site-calibrated P(Present) 0.02 < 0.50"}
    c = _entry(probabilities={"Present": 0.020782, "Unknown": 0.340794, "Absent": 0.638424},
               decision=dec)
    p = probability_panel("murmur", c)
    assert p.threshold == (0, 0.5)
    assert p.interval == (0, 0.020782, 0.011406, 0.034508)
    other = probability_panel("murmur", {**c, "decision": {**dec, "score": 0.3}})
    assert other.threshold is None and other.interval is None
    graded = probability_panel("severity", _entry(
        probabilities={"normal": 0.1, "mild": 0.2, "moderate_severe": 0.7},
        decision={"score_name": "P(moderate_severe | murmur)", "score": 0.8,
                  "threshold": 0.56, "interval": [0.7, 0.9]}))
    # a conditional score is drawn on the conditional bars it was read from
    assert graded.names == ["mild", "moderate_severe"] and graded.threshold == (1, 0.56)


def test_severity_bars_are_the_ones_its_decision_read():
    """Issue 15: the highlighted severity label was often not the largest bar (graded on
    P(grade | murmur), or not graded at all without a murmur). Graded: the bars are the
    conditional distribution among the grades, the score's bar carries the threshold and
    the label is the green bar; not graded: the model's bars drawn faded, none green."""
    from heartsound.plotting.bars import UNUSED_COLOUR
    from heartsound.plotting.scene import probability_panel

    probs = {"normal": 0.04, "mild": 0.28, "moderate_severe": 0.68}
    graded = probability_panel("severity", _entry(
        probabilities=probs, label="moderate_severe",
        decision={"graded": True, "score_name": "P(moderate_severe | murmur)",
                  "score": 0.708333, "threshold": 0.56, "interval": [0.67, 0.74]}))
    assert graded.names == ["mild", "moderate_severe"]
    assert graded.values == pytest.approx([0.291667, 0.708333], abs=1e-6)
    assert graded.threshold == (1, 0.56) and graded.interval[0] == 1
    assert graded.colours[1] == "#2ca02c" and "given murmur" in graded.title
    ungraded = probability_panel("severity", _entry(
        probabilities={"normal": 0.43, "mild": 0.52, "moderate_severe": 0.05},
        label="normal", decision={"graded": False, "score_name": "murmur",
                                  "rule": "murmur Absent -> not graded -> normal"}))
    assert ungraded.names == ["normal", "mild", "moderate_severe"]
    assert set(ungraded.colours) == {UNUSED_COLOUR} and ungraded.threshold is None
    assert ungraded.title == "severity: normal (not graded)"


def test_log_mel_colour_range_ignores_digital_silence():
    """A recording with long digitally silent gaps: the silent frames (one constant
    floor) no longer set the colour range's low end, which had pushed every sound into
    the top colours."""
    from types import SimpleNamespace

    from heartsound.plotting.scene import attention_image

    n_frames, n_mels = 200, 8
    sound = np.linspace(0.0, 1.0, 100 * n_mels).reshape(100, n_mels)
    spec = np.concatenate([np.full((100, n_mels), -1.0), sound])  # first half silent
    r = SimpleNamespace(attention_times_s=np.arange(n_frames) * 0.016, spectrogram=spec,
                        attention_freqs_hz=np.arange(n_mels) * 100.0,
                        attention=np.ones(n_frames))
    _, _, _, vmin, vmax, amap = attention_image(r, 1000)
    assert vmin == pytest.approx(np.percentile(sound, 1)) and vmax == pytest.approx(
        np.percentile(sound, 99.5))
    assert amap is None
    r.spectrogram = sound  # without silence: as before
    assert attention_image(r, 1000)[3] == pytest.approx(np.percentile(sound, 1))


def test_console_says_the_no_beats_reason_once_and_counts_cycles_in_english():
    """``heartsound analyze`` printed the long no-heart-sounds reason four times (under
    the heart rate and again for each task) and "1 cycles"; ``segment`` printed "n/a bpm"."""
    from heartsound.cli.analyze import format_summary
    from heartsound.cli.segment import _summary

    why = "no heart sounds found: 0% of the recording holds repeating sounds (details)"
    no_beats = {"available": False, "label": None, "probabilities": {}, "uncertain": True,
                "assessable": False, "reason": f"not assessable: {why}"}
    d = {"source": "a.wav", "duration_s": 9.0, "sr": 2000, "heart_rate_bpm": None,
         "n_cycles": 0, "quality": {"usable": False, "score": 0.1, "reasons": []},
         "segmentation": {"method": "neural", "presence": {"reason": why}},
         "classification": {"abnormal": no_beats, "murmur": no_beats}}
    text = format_summary(d)
    assert text.count("(details)") == 1
    assert "  abnormal     not assessable (no heart sounds found, see above)" in text
    d.update(heart_rate_bpm=60.0, n_cycles=1, classification={})
    assert "60 bpm, 1 cycle (segmentation" in format_summary(d)
    seg = {"heart_rate_bpm": None, "intervals": {"n_cycles": 0}, "events": []}
    assert "heart rate n/a, 0 cycles, 0 sounds" in _summary("a.wav", seg, {}, {})


def test_html_warning_does_not_speak_of_a_classification_that_was_not_made():
    """A recording without heart sounds: the HTML's quality warning said "the
    classification below is uncertain" where no classification was made."""
    import heartsound
    from heartsound.report import html_report

    d = heartsound.analyze(np.full(10 * 2000, 0.5), sr=2000, tasks=("murmur",)).to_dict()
    assert not d["quality"]["usable"] and not d["classification"]["murmur"]["probabilities"]
    page = html_report(d)
    assert "could not be classified" in page and "is uncertain" not in page
    d["classification"] = {"murmur": _entry(uncertain=True)}
    assert "classification below is uncertain" in html_report(d)
