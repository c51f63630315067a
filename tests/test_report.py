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
        "rec.html", "rec.json", "rec.png", "rec.tsv"]
    assert (tmp_path / "o" / "rec.png").read_bytes().startswith(PNG_MAGIC)


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
