"""analyze(): the one-call pipeline, its JSON contract, degradations, and the analyze CLI."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import heartsound.pipeline as A
from heartsound.pipeline import analyze, example_path
from heartsound.cli.analyze import add_arguments as add_analyze_arguments, main as analyze_main
from heartsound.classification.tasks import LABELS
from heartsound.errors import ModelError, ParameterError

SR = 2000


def synthetic_pcg(rng: np.random.Generator, *, bpm: float = 72.0, seconds: float = 20.0,
                  systole_s: float = 0.30, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """A PCG with known S1/S2: 40 ms (S1, 60 Hz) and 30 ms (S2, 90 Hz) Hann-windowed tone
    bursts every 60/bpm s, S2 ``systole_s`` after S1, in faint white noise.
    Returns (y, s1 onsets in s)."""
    n = int(seconds * sr)
    y = rng.normal(0, 0.01, n)
    rr = 60.0 / bpm
    onsets = np.arange(0.25, seconds - rr, rr)
    for t0 in onsets:
        for dt, dur, f, amp in ((0.0, 0.04, 60.0, 0.8), (systole_s, 0.03, 90.0, 0.5)):
            i = int((t0 + dt) * sr)
            k = np.arange(int(dur * sr))
            y[i:i + k.size] += amp * np.hanning(k.size) * np.sin(2 * np.pi * f * k / sr)
    return y, onsets


def check_contract(d: dict, duration_s: float, tasks=("abnormal", "murmur", "severity")):
    """Every required key with a valid value."""
    for key in ("heartsound_version", "source", "sr", "duration_s", "quality",
                "heart_rate_bpm", "segmentation", "classification"):
        assert key in d, key
    assert d["duration_s"] == pytest.approx(duration_s, abs=1e-3)
    q = d["quality"]
    assert isinstance(q["usable"], bool) and 0.0 <= q["score"] <= 1.0
    assert isinstance(q["reasons"], list) and all(isinstance(r, str) for r in q["reasons"])
    assert q["usable"] == (not q["reasons"])
    seg = d["segmentation"]
    assert seg["method"] in ("neural", "springer2016")
    rows = seg["states"]
    assert rows, "no states"
    # rows tile the recording: start at 0, contiguous, end at the recording's end
    assert rows[0][0] == 0.0
    for (a0, b0, _), (a1, _b1, _) in zip(rows[:-1], rows[1:]):
        assert a1 == pytest.approx(b0, abs=1e-6)
    assert rows[-1][1] == pytest.approx(duration_s, abs=0.021)  # one 50 Hz frame
    assert all(r[2] in (0, 1, 2, 3, 4) and r[1] > r[0] for r in rows)
    ev = seg["events"]
    sounds = [e["sound"] for e in ev]
    assert set(sounds) <= {"S1", "S2"}
    assert all(a != b for a, b in zip(sounds[:-1], sounds[1:])), "S1/S2 do not alternate"
    assert all(e["offset_s"] > e["onset_s"] for e in ev)
    assert len(d["classification"]) == len(tasks)
    for task in tasks:
        c = d["classification"][task]
        assert {"label", "probabilities", "model"} <= set(c)
        if c["available"]:
            # severity is graded only for a murmur: no label when the murmur is Unknown
            assert c["label"] in LABELS[task] or (task == "severity" and c["label"] is None)
            dec = c["decision"]
            assert dec["rule"].endswith(f"-> {c['label']}" if c["label"] else
                                        "not assessable")
            assert dec["caveat"] and (dec["threshold"] is None or 0 < dec["threshold"] < 1)
            assert set(c["probabilities"]) == set(LABELS[task])
            assert sum(c["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
            assert all(0.0 <= p <= 1.0 for p in c["probabilities"].values())
            assert isinstance(c["model"], str) and c["model"]
        else:  # never faked
            assert c["label"] is None and c["probabilities"] == {} and c["reason"]
        assert c.get("uncertain", False) == (not q["usable"]) or not c["available"]
    cls = d["classification"]
    if {"murmur", "severity"} <= set(cls) and cls["severity"]["available"]:
        expected = {"Present": {"mild", "moderate_severe"}, "Absent": {"normal"},
                    "Unknown": {None}}[cls["murmur"]["label"]]
        assert cls["severity"]["label"] in expected, "murmur and severity disagree"
    json.dumps(d, allow_nan=False)


def test_synthetic_array_heart_rate_and_contract(rng):
    y, onsets = synthetic_pcg(rng, bpm=72.0)
    a = analyze(y, sr=SR)
    d = a.to_dict()
    check_contract(d, len(y) / SR)
    assert d["source"] == "<array>" and d["sr"] == SR
    assert d["heart_rate_bpm"] == pytest.approx(72.0, rel=0.05)
    # every detected S1 lies on a true S1 burst (within 60 ms)
    s1 = [e["onset_s"] for e in d["segmentation"]["events"] if e["sound"] == "S1"]
    assert len(s1) >= 0.8 * len(onsets)
    err = [np.min(np.abs(onsets - t)) for t in s1 if 0.1 < t < len(y) / SR - 0.5]
    assert np.median(err) < 0.06


def test_real_circor_file_round_trip(circor_root):
    path = circor_root / "recordings" / "9979_AV.flac"
    a = analyze(path)
    d = a.to_dict()
    check_contract(d, sf.info(str(path)).duration)
    assert d["source"] == str(path)
    assert 40 <= d["heart_rate_bpm"] <= 200
    assert json.loads(json.dumps(d)) == d
    assert d["n_cycles"] == d["segmentation"]["intervals"]["n_cycles"] > 5


def test_white_noise_is_unusable_and_classification_uncertain(rng):
    y = rng.normal(0, 0.1, 15 * SR)
    d = analyze(y, sr=SR).to_dict()
    assert d["quality"]["usable"] is False and d["quality"]["reasons"]
    assert d["quality"]["score"] < 0.5
    for c in d["classification"].values():
        assert c["uncertain"] is True


def test_too_short_is_unusable_not_an_error(rng):
    from heartsound.io import MIN_DURATION_S
    from heartsound.quality import THRESHOLDS

    seconds = 0.5 * (MIN_DURATION_S + THRESHOLDS["min_duration_s"])  # loads, but too short
    assert MIN_DURATION_S < seconds < THRESHOLDS["min_duration_s"]
    y, _ = synthetic_pcg(rng, seconds=seconds, bpm=120.0)
    d = analyze(y, sr=SR, tasks=("murmur",)).to_dict()
    assert d["quality"]["usable"] is False
    assert any("too short" in r for r in d["quality"]["reasons"])
    assert d["classification"]["murmur"]["uncertain"] is True


def test_array_needs_sr(rng):
    with pytest.raises(ParameterError, match="sr"):
        analyze(rng.normal(0, 0.1, SR * 5))


def test_unknown_task_lists_valid_names(rng):
    with pytest.raises(ParameterError, match="abnormal"):
        analyze(rng.normal(0, 0.1, SR * 5), sr=SR, tasks=("nope",))


def test_neural_unavailable_falls_back_to_springer(rng, monkeypatch):
    """The neural model cannot be loaded (the registry's factory raises the bundle's error)."""
    from heartsound import segmentation

    def absent(**options):
        raise ModelError("model file heartsound/models/segmenter_neural.onnx is missing")

    monkeypatch.setitem(segmentation.METHODS, "neural", absent)
    y, _ = synthetic_pcg(rng)
    d = analyze(y, sr=SR, method="neural", tasks=("abnormal",)).to_dict()
    assert d["segmentation"]["method"] == "springer2016"
    assert d["segmentation"]["requested_method"] == "neural"
    assert "segmenter_neural.onnx is missing" in d["segmentation"]["note"]


def test_unavailable_classifier_is_reported_not_faked(rng, monkeypatch):
    def missing(y, sr, *, task, frontend=None, segmentation=None, evidence=False):
        raise ModelError(f"model file heartsound/models/{task}.onnx is missing")

    def all_missing(y, sr, *, frontend=None, segmentation=None, evidence=False):
        raise ModelError("model file heartsound/models/abnormal.onnx is missing")

    monkeypatch.setattr(A, "classify", missing)
    monkeypatch.setattr(A, "classify_all", all_missing)
    y, _ = synthetic_pcg(rng)
    d = analyze(y, sr=SR, segmenter="springer2016").to_dict()
    for task, c in d["classification"].items():
        assert c["available"] is False and c["label"] is None and c["probabilities"] == {}
        assert f"{task}.onnx is missing" in c["reason"]


@pytest.mark.parametrize("segmenter", ["neural", "springer2016"])
def test_classifiers_get_only_the_neural_segmentation(rng, monkeypatch, segmenter):
    """Phase-channel classifiers were trained on the neural segmenter's phases: analyze
    hands its segmentation on only when that method made it."""
    seen = []
    real = A.classify_all

    def spy(y, sr, **kwargs):
        seen.append(kwargs["segmentation"])
        return real(y, sr, **kwargs)

    monkeypatch.setattr(A, "classify_all", spy)
    y, _ = synthetic_pcg(rng, seconds=8.0)
    a = analyze(y, sr=SR, segmenter=segmenter)
    assert a.segmentation.method == segmenter
    assert seen == [a.segmentation if segmenter == "neural" else None]


def test_example_recording_is_synthetic_with_known_segmentation(tmp_path, monkeypatch):
    """The example is built from code (no audio in the package), once, with its truth."""
    from heartsound.example import synthetic_pcg
    from heartsound.evaluation.metrics import score_against_rows

    monkeypatch.setenv("HEARTSOUND_CACHE", str(tmp_path))
    p = example_path()
    assert p.is_relative_to(tmp_path) and p.name == "example.flac"
    info = sf.info(str(p))
    assert info.samplerate == 2000 and info.channels == 1 and info.duration == 10.0
    mtime = p.stat().st_mtime_ns
    assert example_path() == p and p.stat().st_mtime_ns == mtime  # built once
    y, rows = synthetic_pcg()
    np.testing.assert_allclose(sf.read(str(p))[0], y, atol=1 / 2 ** 15)
    tsv = [tuple(float(v) for v in line.split("\t")) for line in
           (p.parent / "example.tsv").read_text().splitlines()]
    assert [(a, b, int(s)) for a, b, s in tsv] == [(round(a, 6), round(b, 6), s)
                                                    for a, b, s in rows]
    n_s1 = sum(1 for _, _, s in rows if s == 1)
    assert 11 <= n_s1 <= 12  # complete beats at about 75 bpm from 0.35 s to 10 s
    d = analyze(p).to_dict()
    assert d["heart_rate_bpm"] == pytest.approx(75.0, rel=0.05)
    ev = [(e["sound"], 0.5 * (e["onset_s"] + e["offset_s"]))
          for e in d["segmentation"]["events"]]
    assert score_against_rows(rows, ev, 0.06)["f1"] >= 0.95


def test_synthetic_pcg_murmur_only_in_systole():
    from heartsound.example import synthetic_pcg

    y0, rows = synthetic_pcg(murmur=False)
    y1, rows1 = synthetic_pcg(murmur=True)
    assert rows == rows1
    sr = 2000
    for a, b, s in rows:
        i, j = int(a * sr) + 2, int(b * sr) - 2
        quiet0 = np.sqrt(np.mean(y0[i:j] ** 2))
        if s == 2:  # systole: the murmur adds energy
            assert np.sqrt(np.mean(y1[i:j] ** 2)) > 3 * quiet0
        elif s == 4:  # diastole: only the faint background
            assert np.sqrt(np.mean(y1[i:j] ** 2)) < 0.05


# --- CLI -----------------------------------------------------------------------------------

def _run(argv: list[str]) -> int:
    try:
        from heartsound.cli import main
    except ImportError:  # before the lead's cli.py: parse with our own arguments
        p = argparse.ArgumentParser()
        add_analyze_arguments(p)
        return analyze_main(p.parse_args(argv[1:]))
    return main(argv)


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "text.wav").write_text("not audio at all")
    (tmp_path / "empty.flac").write_bytes(b"")
    return {"missing": tmp_path / "missing.wav", "corrupt": tmp_path / "text.wav",
            "empty": tmp_path / "empty.flac"}


@pytest.mark.parametrize("kind", ["missing", "corrupt", "empty"])
def test_cli_bad_file_one_line_message(bad_files, kind, tmp_path, capsys):
    out = tmp_path / "out"
    rc = _run(["analyze", str(bad_files[kind]), "--out", str(out), "--no-plots"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err) == 1 and err[0].startswith("heartsound: error: ")
    assert str(bad_files[kind]) in err[0]
    assert not out.exists() or not any(out.iterdir())


def test_cli_continues_after_bad_file_and_writes_outputs(bad_files, tmp_path, capsys, rng):
    good = tmp_path / "good.wav"
    sf.write(str(good), synthetic_pcg(rng, seconds=8.0)[0], SR)
    out = tmp_path / "out"
    rc = _run(["analyze", str(bad_files["corrupt"]), str(good), "--out", str(out),
               "--html", "--method", "springer2016"])
    cap = capsys.readouterr()
    assert rc == 2
    assert "text.wav" in cap.err and "Traceback" not in cap.err
    assert "good.wav" in cap.out and "heart rate" in cap.out
    assert sorted(p.name for p in out.iterdir()) == [
        "good.heartsound.html", "good.heartsound.json", "good.heartsound.png",
        "good.heartsound.tsv"]
    d = json.loads((out / "good.heartsound.json").read_text())
    check_contract(d, 8.0)
    rows = [ln.split("\t") for ln in (out / "good.heartsound.tsv").read_text().splitlines()]
    assert [[float(a), float(b), int(s)] for a, b, s in rows] == \
        [[pytest.approx(r[0], abs=1e-4), pytest.approx(r[1], abs=1e-4), r[2]]
         for r in d["segmentation"]["states"]]


@pytest.mark.slow
def test_cli_example_json_offline_without_torch(tmp_path):
    """``heartsound analyze --example --json`` in a fresh process: valid JSON on stdout,
    outputs written, torch never imported and matplotlib only for the figure."""
    code = (
        "import sys, json\n"
        "from heartsound.pipeline import analyze, example_path\n"
        "analyze(example_path(), tasks=('abnormal',))\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported without plotting'\n"
        "from heartsound.cli import main\n"
        f"rc = main(['analyze', '--example', '--json', '--out', {str(tmp_path)!r}])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "sys.exit(rc)\n")
    out = tmp_path / "out"
    code = code.replace(repr(str(tmp_path)), repr(str(out)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    check_contract(d, 10.0)
    assert d["source"].endswith("example.flac")
    assert sorted(p.name for p in out.iterdir()) == [
        "example.heartsound.json", "example.heartsound.png", "example.heartsound.tsv"]


def test_cli_needs_a_file_or_example(capsys):
    with pytest.raises(ParameterError, match="--example"):
        p = argparse.ArgumentParser()
        add_analyze_arguments(p)
        analyze_main(p.parse_args([]))


def test_no_segmenter_at_all_still_reports(rng, monkeypatch):
    from heartsound import segmentation

    def absent(name):
        def factory(**options):
            raise ModelError(f"model file {name} is missing")
        return factory

    for name in ("neural", "springer2016"):
        monkeypatch.setitem(segmentation.METHODS, name, absent(f"_no_{name}_model"))
    y, _ = synthetic_pcg(rng, seconds=6.0)
    a = analyze(y, sr=SR, tasks=("abnormal",))
    d = a.to_dict()
    assert a.segmentation is None and d["segmentation"]["method"] is None
    assert "_no_neural_model is missing" in d["segmentation"]["note"]
    assert "_no_springer2016_model is missing" in d["segmentation"]["note"]
    assert d["heart_rate_bpm"] is None and d["n_cycles"] == 0
    assert "abnormal" in d["classification"]
    json.dumps(d, allow_nan=False)
    from heartsound.cli.analyze import format_summary
    from heartsound.report import render_outputs

    assert "n/a" in format_summary(d)
    out = render_outputs(a)
    assert out["tsv"] == "" and out["png"].startswith(b"\x89PNG")


def test_one_missing_model_leaves_the_others(rng, monkeypatch):
    real = A.classify

    def sev_missing(y, sr, *, task, **kwargs):
        if task == "severity":
            raise ModelError("model file heartsound/models/severity.onnx is missing")
        return real(y, sr, task=task, **kwargs)

    def all_fails(y, sr, **kwargs):
        raise ModelError("model file heartsound/models/severity.onnx is missing")

    monkeypatch.setattr(A, "classify", sev_missing)
    monkeypatch.setattr(A, "classify_all", all_fails)
    y, _ = synthetic_pcg(rng, seconds=8.0)
    d = analyze(y, sr=SR, segmenter="springer2016").to_dict()
    assert d["classification"]["severity"]["available"] is False
    for t in ("abnormal", "murmur"):
        assert d["classification"][t]["available"] is True
        assert sum(d["classification"][t]["probabilities"].values()) == pytest.approx(1.0)


def test_all_tasks_at_once_equal_one_at_a_time(rng):
    y, _ = synthetic_pcg(rng, seconds=8.0)
    both = analyze(y, sr=SR, segmenter="springer2016").to_dict()["classification"]
    for t in ("abnormal", "murmur", "severity"):
        one = analyze(y, sr=SR, segmenter="springer2016", tasks=(t,)).to_dict()
        assert one["classification"][t]["probabilities"] == pytest.approx(
            both[t]["probabilities"], abs=1e-5)
        assert one["classification"][t]["label"] == both[t]["label"]


def test_samples_kept_as_float32_only_when_exact(rng):
    """The Analysis keeps integer-PCM samples as float32 (exact: half the memory of an
    hour's float64); samples float32 cannot hold exactly stay float64, unchanged."""
    y, _ = synthetic_pcg(rng, seconds=8.0)
    pcm = np.round(np.clip(y, -1, 1) * 32767) / 32768          # 16-bit PCM values
    a = analyze(pcm, sr=SR, tasks=("murmur",), evidence=False)
    assert a.recording.y.dtype == np.float32
    assert np.array_equal(a.recording.y.astype(np.float64), pcm)
    b = analyze(y, sr=SR, tasks=("murmur",), evidence=False)   # full float64 precision
    assert b.recording.y.dtype == np.float64
    assert np.array_equal(b.recording.y, y)
    assert a.n_cycles == b.n_cycles > 5
