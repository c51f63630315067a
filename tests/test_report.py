"""Reports: atomic writes, TSV/JSON/PNG/HTML contents, no partial files on error.

The analyses here are assembled from the shipped example recording, the real quality check,
its expert annotation (``example.tsv``) as segmentation and hand-made classifier outputs, so
the report code is tested independently of the segmenter and the shipped models.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

import heartsound.report as R
from heartsound import errors
import heartsound.serialize as serialize
from heartsound.pipeline import Analysis, TaskResult, example_path
from heartsound.classification.frontend import FrontendConfig, frame_times, log_mel
from heartsound.classification.inference import ClassificationResult
from heartsound.io import load
from heartsound.quality import assess
from heartsound.segmentation.result import Segmentation, rows_to_states

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _truth_rows() -> list[tuple[float, float, int]]:
    text = example_path().with_suffix(".tsv").read_text()
    return [(float(a), float(b), int(s)) for a, b, s in
            (ln.split("\t") for ln in text.splitlines() if ln.strip())]


def _result(task: str, labels: tuple[str, ...], probs: tuple[float, ...], y, sr):
    fe = FrontendConfig()
    feat = log_mel(y, sr, fe)
    att = np.zeros_like(feat, dtype=float)
    att[10:14, 5:20] = 1.0
    att /= att.sum()
    return ClassificationResult(task=task, label=labels[int(np.argmax(probs))],
                                probabilities=dict(zip(labels, probs)), model=f"{task}:test",
                                attention=att, attention_times_s=frame_times(len(feat), fe),
                                attention_freqs_hz=np.linspace(30, 990, fe.n_mels),
                                spectrogram=feat)


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    rec = load(example_path())
    n = int(round(rec.duration_s * 50))
    seg = Segmentation(rows_to_states(_truth_rows(), 50.0, n), 50.0, "annotation", 93.0, 0.3)
    cls = {
        "abnormal": TaskResult("abnormal", _result("abnormal", ("normal", "abnormal"),
                                                   (0.2, 0.8), rec.y, rec.sr)),
        "murmur": TaskResult("murmur", _result("murmur", ("Present", "Unknown", "Absent"),
                                               (0.7, 0.1, 0.2), rec.y, rec.sr)),
        "severity": TaskResult("severity", None, True, "classifier unavailable: no model"),
    }
    cls["murmur"].attention_by_phase = cls["murmur"].result.attention_by_phase(seg)
    return Analysis(recording=rec, quality=assess(rec.y, rec.sr), segmentation=seg,
                    requested_segmenter="neural", classification=cls)


def test_tsv_matches_segmentation_rows(analysis):
    text = R.render_outputs(analysis, kinds=("tsv",))["tsv"]
    assert text == R.tsv_text(analysis.to_dict()["segmentation"]["states"])
    rows = [ln.split("\t") for ln in text.splitlines()]
    truth = _truth_rows()
    assert len(rows) == len(truth)
    for (a, b, s), (ta, tb, ts) in zip(rows, truth):
        assert int(s) == ts
        assert float(a) == pytest.approx(ta, abs=0.021) and float(b) == pytest.approx(tb, abs=0.021)


def test_json_contract(analysis):
    d = json.loads(R.json_text(analysis))
    assert d == analysis.to_dict()
    assert d["classification"]["murmur"]["label"] == "Present"
    assert d["classification"]["murmur"]["probabilities"] == {
        "Present": 0.7, "Unknown": 0.1, "Absent": 0.2}
    shares = d["classification"]["murmur"]["attention_by_phase"]
    assert sum(shares[k] for k in ("S1", "systole", "S2", "diastole", "unsegmented")) == \
        pytest.approx(1.0, abs=1e-3)
    sev = d["classification"]["severity"]
    assert sev["available"] is False and sev["label"] is None and sev["probabilities"] == {}
    s1 = [a for a, _b, s in _truth_rows() if s == 1]  # every S1 is followed by S2
    assert d["n_cycles"] == len(s1) - 1
    assert d["heart_rate_bpm"] == pytest.approx(60 / np.median(np.diff(s1)), rel=0.03)


def test_figure_is_png(analysis):
    png = R.figure_png(analysis)
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000


def test_attention_curve_sums_over_frequency(analysis):
    t, w = R.attention_curve(analysis.classification["murmur"].result)
    assert t.shape == w.shape and w.sum() == pytest.approx(1.0)
    assert R.attention_curve(None) is None


def test_html_is_self_contained(analysis):
    png = R.figure_png(analysis)
    page = R.html_report(analysis, png)
    m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert m and base64.b64decode(m.group(1)) == png
    # no external resource: every src/href is a data URI
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "Present" in page and "unavailable" in page and "example.flac" in page


def test_html_escapes_names(analysis):
    d = analysis.to_dict()
    d["source"] = "out/<script>alert(1)</script>.wav"
    page = R.html_report(d)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_write_outputs_all_kinds(analysis, tmp_path):
    written = R.write_outputs(analysis, tmp_path / "o", "rec", png=True, html=True)
    assert list(written) == ["tsv", "png", "html", "json"]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "rec.heartsound.html", "rec.heartsound.json", "rec.heartsound.png",
        "rec.heartsound.tsv"]
    assert (tmp_path / "o" / "rec.heartsound.png").read_bytes().startswith(PNG_MAGIC)
    assert all(R.is_heartsound_output(p) for p in written.values())


def test_no_partial_files_when_rendering_fails(analysis, tmp_path, monkeypatch):
    def boom(_a, **_k):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(R, "figure_png", boom)
    with pytest.raises(RuntimeError):
        R.write_outputs(analysis, tmp_path, "rec", png=True)
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_keeps_old_file_on_error(tmp_path, monkeypatch):
    p = tmp_path / "x.json"
    R.write_atomic(p, "old")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(serialize.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        R.write_atomic(p, "new")
    assert p.read_text() == "old"
    assert [q.name for q in tmp_path.iterdir()] == ["x.json"]  # temporary file removed


# --- outputs never clobber -----------------------------------------------------------------

def test_output_names_and_ownership(analysis, tmp_path):
    written = R.write_outputs(analysis, tmp_path, "9979_AV", png=True, html=True)
    assert {k: p.name for k, p in written.items()} == {
        k: f"9979_AV.heartsound.{k}" for k in ("tsv", "png", "html", "json")}
    assert all(R.is_heartsound_output(p) for p in written.values())
    png = written["png"].read_bytes()
    assert serialize.png_text(png)["Software"] == R.GENERATOR
    # the same content under another name, or another content under the name: not ours
    foreign = {
        "a.tsv": written["tsv"].read_text(),  # CirCor's own name
        "b.heartsound.tsv": "0\t0.265\t0\n",  # hand-edited format
        "c.heartsound.json": json.dumps({"source": "x"}),
        "d.heartsound.json": "not json",
        "e.heartsound.png": PNG_MAGIC + b"\0" * 40,
        "f.heartsound.html": "<html>my notes</html>",
        "g.heartsound.csv": "a,b",
    }
    for name, text in foreign.items():
        p = tmp_path / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        assert not R.is_heartsound_output(p), name
    (tmp_path / "h.heartsound.json").mkdir()
    assert not R.is_heartsound_output(tmp_path / "h.heartsound.json")


def test_foreign_file_in_the_way_stops_the_whole_set(analysis, tmp_path):
    mine = tmp_path / "rec.heartsound.png"
    mine.write_bytes(b"my own figure")
    with pytest.raises(errors.OutputError, match="rec.heartsound.png exists and was not "
                                                 "written by heartsound"):
        R.write_outputs(analysis, tmp_path, "rec", png=True)
    assert [p.name for p in tmp_path.iterdir()] == ["rec.heartsound.png"]
    assert mine.read_bytes() == b"my own figure"


def test_symlink_to_an_annotation_is_not_followed(analysis, tmp_path):
    ann = tmp_path / "9979_AV.tsv"
    ann.write_text("0.000000\t0.265000\t0\n")  # CirCor's format is heartsound's too
    out = tmp_path / "o"
    out.mkdir()
    (out / "9979_AV.heartsound.tsv").symlink_to(ann)
    R.write_outputs(analysis, out, "9979_AV", png=False)  # replaces the link, not the file
    assert ann.read_text() == "0.000000\t0.265000\t0\n"
    assert not (out / "9979_AV.heartsound.tsv").is_symlink()


def test_write_atomic_many_all_or_nothing(tmp_path, monkeypatch):
    old = tmp_path / "a.txt"
    old.write_text("old")
    real = serialize.os.fdopen
    n = []

    def fail_second(fd, *a, **k):
        n.append(fd)
        if len(n) == 2:
            serialize.os.close(fd)
            raise OSError(28, "No space left on device")
        return real(fd, *a, **k)

    monkeypatch.setattr(serialize.os, "fdopen", fail_second)
    with pytest.raises(OSError, match="No space"):
        serialize.write_atomic_many([(old, "new"), (tmp_path / "b.txt", "b")])
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"] and old.read_text() == "old"


def test_png_text_round_trip():
    from heartsound.plotting import new_figure, png_bytes

    fig = new_figure((2, 1))
    fig.add_subplot(1, 1, 1).plot([0, 1])
    png = serialize.png_with_text(png_bytes(fig), "Software", "heartsound 9.9")
    assert serialize.png_text(png)["Software"] == "heartsound 9.9"
    import matplotlib.image as mpimg
    import io

    assert mpimg.imread(io.BytesIO(png)).shape[:2] == (90, 180)  # still a valid PNG


# --- one serialised result ----------------------------------------------------------------

def test_to_jsonable_one_rounding_rule():
    d = serialize.to_jsonable({"a": np.float32(0.1), "b": (1, np.int64(2)), "c": float("nan"),
                               "d": np.array([1 / 3, np.inf]), 4: True, "e": None,
                               "f": 73.17073170731707})
    assert d == {"a": 0.1, "b": [1, 2], "c": None, "d": [0.333333, None], "4": True,
                 "e": None, "f": 73.170732}
    assert type(d["b"][1]) is int


def test_segmentation_dict_has_one_heart_rate(analysis):
    seg = analysis.segmentation
    d = seg.to_dict()
    assert d["heart_rate_bpm"] == round(seg.intervals()["heart_rate_bpm"], 6)
    assert d["heart_rate_bpm"] == analysis.to_dict()["heart_rate_bpm"]
    assert d["prior_heart_rate_bpm"] == 93.0  # the duration model's estimate, kept apart
    empty = Segmentation(np.full(100, 2, dtype=np.int8), 50.0, "x", 80.0, 0.3)
    assert empty.to_dict()["heart_rate_bpm"] is None and empty.median_heart_rate_bpm is None


def test_events_carry_sample_indices():
    states = np.repeat(np.array([4, 1, 2, 3, 4], dtype=np.int8), [10, 5, 15, 5, 15])
    seg = Segmentation(states, 50.0, "x", 75.0, 0.3, sr=4000)
    s1, s2 = seg.events()
    assert (s1.sound, s1.onset_s, s1.offset_s, s1.onset, s1.offset) == ("S1", 0.2, 0.3, 800,
                                                                        1200)
    assert (s2.onset, s2.offset) == (2400, 2800)
    d = seg.to_dict()
    assert d["sr"] == 4000 and d["events"][0] == {"sound": "S1", "onset_s": 0.2,
                                                   "offset_s": 0.3, "onset": 800,
                                                   "offset": 1200}
    no_sr = Segmentation(states, 50.0, "x", 75.0, 0.3)
    assert no_sr.events()[0].onset is None and "onset" not in no_sr.to_dict()["events"][0]


def test_every_writer_reads_the_same_values(analysis):
    """CSV row, HTML page and TSV show the values of ``to_dict()``, not recomputed ones."""
    from heartsound.batch import summary_row

    d = analysis.to_dict()
    row = summary_row(d, "x.flac")
    assert row["heart_rate_bpm"] == d["heart_rate_bpm"]
    assert row["quality_score"] == d["quality"]["score"]
    assert row["murmur_p_Present"] == d["classification"]["murmur"]["probabilities"]["Present"]
    page = R.html_report(d)
    assert f"{d['heart_rate_bpm']:.0f} bpm" in page
    out = R.render_outputs(analysis, data=d)
    assert json.loads(out["json"]) == d
    assert out["tsv"].splitlines()[1] == "\t".join(
        [f"{d['segmentation']['states'][1][0]:.6f}", f"{d['segmentation']['states'][1][1]:.6f}",
         str(d['segmentation']['states'][1][2])])


# --- figures --------------------------------------------------------------------------------

def test_minmax_envelope_oracle():
    from heartsound.plotting import minmax_envelope

    y = np.arange(10, dtype=float)
    t, lo, hi = minmax_envelope(y, 10.0, 4)  # stretches of 3: [0-2] [3-5] [6-8] [9]
    assert lo.tolist() == [0, 3, 6, 9] and hi.tolist() == [2, 5, 8, 9]
    assert t.tolist() == pytest.approx([0.15, 0.45, 0.75, 0.95])


@pytest.mark.slow
def test_one_hour_waveform_is_decimated():
    """A 1-hour recording at 2 kHz hands matplotlib a few thousand points, not 7.2 M."""
    from heartsound.plotting import new_figure, plot_segmentation

    sr = 2000
    y = np.zeros(3600 * sr, dtype=np.float32)
    y[::2000] = 1.0
    y[1000::2000] = -0.5
    rows = [(0.0, 1800.0, 4), (1800.0, 3600.0, 2)]
    ax = new_figure((11, 3)).add_subplot(1, 1, 1)
    plot_segmentation(y=y, sr=sr, rows=rows, ax=ax)
    n_points = sum(len(p.vertices) for c in ax.collections for p in c.get_paths())
    n_points += sum(len(ln.get_xdata()) for ln in ax.lines)
    assert n_points < 20_000
    assert ax.get_xlim() == (0.0, 3600.0) and ax.get_ylim() == pytest.approx((-1.05, 1.05))


def test_panels_draw_on_the_given_axes(analysis):
    import heartsound
    from heartsound.plotting import new_figure

    fig = new_figure((8, 4))
    ax1, ax2 = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    with pytest.raises(heartsound.ParameterError, match="sr"):
        heartsound.plot_segmentation(analysis.segmentation, analysis.recording.y, ax=ax1)
    assert heartsound.plot_segmentation(analysis.segmentation, analysis.recording.y,
                                        analysis.sr, ax=ax1) is ax1
    assert heartsound.plot_attention(analysis.classification["murmur"].result, ax=ax2) is ax2
    assert [c.get_label() for c in ax1.collections if c.get_label() in
            ("S1", "systole", "S2", "diastole")] == ["S1", "systole", "S2", "diastole"]
    full = heartsound.plot(analysis)
    assert full.texts[0].get_text().startswith("example.flac: 10.0 s")
