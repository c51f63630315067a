"""batch: recursive discovery, summary CSV, bad files recorded, resumption, process pool."""

from __future__ import annotations

import argparse
import csv
import shutil

import numpy as np
import pytest
import soundfile as sf

from heartsound.pipeline import example_path
from heartsound.cli.batch import add_arguments as add_batch_arguments, main as batch_main
from heartsound.batch import csv_columns, find_audio, run_batch
from heartsound.errors import ParameterError

SR = 2000


def _pcg(rng: np.random.Generator, seconds: float = 6.0, bpm: float = 80.0) -> np.ndarray:
    y = rng.normal(0, 0.01, int(seconds * SR))
    for t0 in np.arange(0.2, seconds - 0.8, 60 / bpm):
        for dt, f, amp in ((0.0, 60.0, 0.8), (0.3, 90.0, 0.5)):
            i = int((t0 + dt) * SR)
            k = np.arange(int(0.04 * SR))
            y[i:i + k.size] += amp * np.hanning(k.size) * np.sin(2 * np.pi * f * k / SR)
    return y


@pytest.fixture
def tree(tmp_path, rng):
    """in/ex.flac (the example), in/sub/syn.wav, in/sub/deep/syn.ogg (a second synthetic
    recording with the same stem elsewhere), in/bad.wav (not audio), in/notes.txt."""
    root = tmp_path / "in"
    (root / "sub" / "deep").mkdir(parents=True)
    shutil.copy(example_path(), root / "ex.flac")
    sf.write(str(root / "sub" / "syn.wav"), _pcg(rng), SR)
    sf.write(str(root / "sub" / "deep" / "syn.ogg"), _pcg(rng, bpm=70.0), SR)
    (root / "bad.wav").write_text("definitely not audio")
    (root / "notes.txt").write_text("ignored")
    return root


def _read_csv(path):
    with open(path, newline="") as fh:
        return {r["path"]: r for r in csv.DictReader(fh)}


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_find_audio_recursive_and_sorted(tree):
    assert [str(p.relative_to(tree)) for p in find_audio(tree)] == [
        "bad.wav", "ex.flac", "sub/deep/syn.ogg", "sub/syn.wav"]
    with pytest.raises(ParameterError, match="not a folder"):
        find_audio(tree / "ex.flac")


def test_batch_records_bad_file_and_resumes(tree, tmp_path):
    out = tmp_path / "out"
    res = run_batch(tree, out, method="springer2016", plots=False, progress=False)
    assert (res.n_files, res.n_ok, res.n_error, res.n_skipped) == (4, 3, 1, 0)
    rows = _read_csv(out / "summary.csv")
    assert list(rows) == ["bad.wav", "ex.flac", "sub/deep/syn.ogg", "sub/syn.wav"]
    assert rows["bad.wav"]["status"] == "error"
    assert "bad.wav" in rows["bad.wav"]["error"] and "not a readable audio" in \
        rows["bad.wav"]["error"]
    for p in ("ex.flac", "sub/syn.wav", "sub/deep/syn.ogg"):
        r = rows[p]
        assert r["status"] == "ok" and r["error"] == ""
        assert r["segmentation_method"] == "springer2016"
        assert r["usable"] in ("True", "False") and 0 <= float(r["quality_score"]) <= 1
    assert float(rows["ex.flac"]["duration_s"]) == pytest.approx(10.0)
    assert float(rows["sub/syn.wav"]["heart_rate_bpm"]) == pytest.approx(80, rel=0.05)
    assert float(rows["sub/deep/syn.ogg"]["heart_rate_bpm"]) == pytest.approx(70, rel=0.05)
    with open(out / "summary.csv", newline="") as fh:
        assert next(csv.reader(fh)) == csv_columns(("abnormal", "murmur", "severity"))
    # outputs mirror the tree; nothing for the bad file; no temporary files
    assert _files(out) == [f"{s}.heartsound.{k}" for s in ("ex", "sub/deep/syn", "sub/syn")
                           for k in ("json", "tsv")] + ["summary.csv"]

    # resume: done files are skipped (outputs untouched), the bad file is retried
    before = {p: (out / p).stat().st_mtime_ns for p in _files(out) if p != "summary.csv"}
    res2 = run_batch(tree, out, method="springer2016", plots=False, progress=False)
    assert (res2.n_ok, res2.n_skipped, res2.n_error) == (3, 3, 1)
    assert {p: (out / p).stat().st_mtime_ns for p in before} == before
    assert _read_csv(out / "summary.csv") == rows

    # an incomplete output set (JSON missing) is redone, the rest skipped
    (out / "sub" / "syn.heartsound.json").unlink()
    res3 = run_batch(tree, out, method="springer2016", plots=False, progress=False)
    assert (res3.n_ok, res3.n_skipped) == (3, 2)
    assert _read_csv(out / "summary.csv") == rows

    # fewer tasks: still complete; another segmentation method: redone
    res4 = run_batch(tree, out, method="springer2016", plots=False, progress=False,
                     tasks=("murmur",))
    assert res4.n_skipped == 3
    res5 = run_batch(tree, out, method="neural", plots=False, progress=False,
                     tasks=("murmur",))
    assert res5.n_skipped == 0 and res5.n_ok == 3

    # asking for plots makes the earlier runs incomplete: PNGs are added
    res6 = run_batch(tree, out, method="neural", plots=True, progress=False,
                     tasks=("murmur",))
    assert res6.n_skipped == 0 and (out / "ex.heartsound.png").is_file()


def test_batch_pool_matches_serial(tree, tmp_path):
    a = run_batch(tree, tmp_path / "a", method="springer2016", plots=False,
                  progress=False, tasks=("abnormal",))
    b = run_batch(tree, tmp_path / "b", method="springer2016", plots=False,
                  progress=False, tasks=("abnormal",), jobs=2)
    assert (a.n_ok, a.n_error) == (b.n_ok, b.n_error) == (3, 1)
    assert _read_csv(tmp_path / "a" / "summary.csv") == _read_csv(tmp_path / "b" / "summary.csv")


def test_batch_main_exit_code_and_message(tree, tmp_path, capsys):
    argv = [str(tree), "--out", str(tmp_path / "o"), "--no-plots", "--no-progress",
            "--method", "springer2016", "--tasks", "abnormal"]
    try:
        from heartsound.cli import main
    except ImportError:  # before the lead's cli.py: our own parser
        p = argparse.ArgumentParser()
        add_batch_arguments(p)
        rc = batch_main(p.parse_args(argv))
    else:
        rc = main(["batch", *argv])
    assert rc == 1
    cap = capsys.readouterr()
    assert "4 files: 3 ok" in cap.out and "1 failed" in cap.out
    assert cap.err.startswith("heartsound: error: ") and "bad.wav" in cap.err
    assert "Traceback" not in cap.err


def test_batch_rejects_bad_jobs(tree, tmp_path):
    with pytest.raises(ParameterError, match="jobs"):
        run_batch(tree, tmp_path / "o", jobs=0, progress=False)
