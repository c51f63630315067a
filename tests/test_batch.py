"""batch: discovery, summary CSV, bad files recorded, resumption keyed by version and
models, a worker pool that survives dead workers, the output-folder lock, any file name."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from heartsound.io import resample
from heartsound.pipeline import example_path
from heartsound.batch import BatchLockedError, csv_columns, run_batch
from heartsound.batch_files import LOCK_NAME, audio_extensions, find_inputs
from heartsound.batch_pool import run_isolated, worker_pids
from heartsound.cli import main as cli_main
from heartsound.errors import OutputError, ParameterError

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
    """in/ex.flac (the example) and its annotation in/ex.tsv, in/sub/syn.wav,
    in/sub/deep/syn.ogg (a second synthetic recording with the same stem elsewhere),
    in/bad.wav (not audio), in/notes.txt."""
    root = tmp_path / "in"
    (root / "sub" / "deep").mkdir(parents=True)
    shutil.copy(example_path(), root / "ex.flac")
    sf.write(str(root / "sub" / "syn.wav"), _pcg(rng), SR)
    sf.write(str(root / "sub" / "deep" / "syn.ogg"), _pcg(rng, bpm=70.0), SR)
    (root / "bad.wav").write_text("definitely not audio")
    (root / "notes.txt").write_text("ignored")
    (root / "ex.tsv").write_text("0.0\t0.5\t1\n")
    return root


def _read_csv(path):
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        return {r["path"]: r for r in csv.DictReader(fh)}


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.name != LOCK_NAME)


def _run(tree, out, **kw):
    kw = {"method": "springer2016", "plots": False, "progress": False, "jobs": 0, **kw}
    return run_batch(tree, out, **kw)


def test_find_inputs_recursive_sorted_every_libsndfile_format(tree, tmp_path):
    assert {".wav", ".flac", ".ogg", ".aiff", ".mp3"} <= set(audio_extensions())
    (tree / "x.MP3").write_bytes(b"not really")
    (tree / "m.mat").write_bytes(b"MATLAB data")
    (tree / ".hidden.wav").write_bytes(b"")
    run_out = tree / "sub" / "old-run"  # an earlier batch's output inside the input
    run_out.mkdir()
    (run_out / LOCK_NAME).write_text("")
    (run_out / "ex.wav").write_bytes(b"")
    audio, other = find_inputs(tree, exclude=tree / "out")
    rel = lambda ps: [str(p.relative_to(tree)) for p in ps]  # noqa: E731
    assert rel(audio) == ["bad.wav", "ex.flac", "sub/deep/syn.ogg", "sub/syn.wav", "x.MP3"]
    assert rel(other) == ["ex.tsv", "m.mat", "notes.txt"]
    with pytest.raises(ParameterError, match="not a folder"):
        find_inputs(tree / "ex.flac")


def test_batch_records_bad_file_and_resumes(tree, tmp_path):
    out = tmp_path / "out"
    res = _run(tree, out)
    assert (res.n_files, res.n_ok, res.n_error, res.n_resumed) == (4, 3, 1, 0)
    assert res.not_audio == ["ex.tsv", "notes.txt"]
    rows = _read_csv(out / "summary.csv")
    assert list(rows) == ["bad.wav", "ex.flac", "ex.tsv", "notes.txt", "sub/deep/syn.ogg",
                          "sub/syn.wav"]
    assert rows["bad.wav"]["status"] == "error"
    assert "bad.wav" in rows["bad.wav"]["error"] and "not a readable audio" in \
        rows["bad.wav"]["error"]
    assert rows["notes.txt"]["status"] == rows["ex.tsv"]["status"] == "skipped"
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
    # outputs mirror the tree (an annotation beside a recording does not change its
    # stem); nothing for the bad file; no temporary files
    assert _files(out) == ["ex.heartsound.json", "ex.heartsound.tsv",
                           "sub/deep/syn.heartsound.json", "sub/deep/syn.heartsound.tsv",
                           "sub/syn.heartsound.json", "sub/syn.heartsound.tsv", "summary.csv",
                           "summary.parquet"]
    key = json.loads((out / "ex.heartsound.json").read_text())["batch"]["key"]
    assert key["method"] == "springer2016" and len(key["models"]["murmur"]) == 64

    # resume: done files are skipped (outputs untouched), the bad file is retried
    before = {p: (out / p).stat().st_mtime_ns for p in _files(out) if not p.startswith("summary.")}
    res2 = _run(tree, out)
    assert (res2.n_ok, res2.n_resumed, res2.n_error) == (3, 3, 1)
    assert {p: (out / p).stat().st_mtime_ns for p in before} == before
    assert _read_csv(out / "summary.csv") == rows

    # an incomplete output set (JSON missing) is redone, the rest skipped
    (out / "sub" / "syn.heartsound.json").unlink()
    res3 = _run(tree, out)
    assert (res3.n_ok, res3.n_resumed) == (3, 2)
    assert _read_csv(out / "summary.csv") == rows

    # fewer tasks: still complete; another segmentation method: redone
    assert _run(tree, out, tasks=("murmur",)).n_resumed == 3
    res5 = _run(tree, out, method="neural", tasks=("murmur",))
    assert res5.n_resumed == 0 and res5.n_ok == 3

    # asking for plots makes the earlier runs incomplete: PNGs are added
    res6 = _run(tree, out, method="neural", plots=True, tasks=("murmur",))
    assert res6.n_resumed == 0 and (out / "ex.heartsound.png").is_file()


@pytest.mark.parametrize("change", ["version", "model", "unavailable", "fallback"])
def test_resume_redoes_results_of_other_versions_or_degraded(tree, tmp_path, change):
    """A result made by another heartsound version or another model file, or with a
    classifier unavailable or a segmenter fallback, is never kept."""
    out = tmp_path / "out"
    _run(tree, out, tasks=("murmur",))
    j = out / "ex.heartsound.json"
    d = json.loads(j.read_text())
    if change == "version":
        d["batch"]["key"]["heartsound_version"] = "0.0.1"
    elif change == "model":
        d["batch"]["key"]["models"]["murmur"] = "0" * 64
    elif change == "unavailable":
        d["classification"]["murmur"]["available"] = False
    else:
        d["segmentation"]["method"] = "some-fallback"
    j.write_text(json.dumps(d))
    res = _run(tree, out, tasks=("murmur",))
    assert (res.n_ok, res.n_resumed) == (3, 2)
    assert json.loads(j.read_text())["batch"]["key"] == \
        json.loads((out / "sub" / "syn.heartsound.json").read_text())["batch"]["key"]


@pytest.mark.slow
def test_batch_pool_matches_serial(tree, tmp_path):
    a = _run(tree, tmp_path / "a", tasks=("abnormal",))
    b = _run(tree, tmp_path / "b", tasks=("abnormal",), jobs=2)
    assert (a.n_ok, a.n_error) == (b.n_ok, b.n_error) == (3, 1)
    assert _read_csv(tmp_path / "a" / "summary.csv") == _read_csv(tmp_path / "b" / "summary.csv")


def _die_on(job):
    """Pool job for the tests: ``"die"`` ends the worker as the OOM killer would."""
    if job == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if job == "exit":
        os._exit(3)
    return job * 2


@pytest.mark.slow
def test_pool_dead_worker_costs_only_its_job():
    """Jobs that kill their worker are tried twice and recorded with the signal or exit
    code; every other job is done (with ProcessPoolExecutor all would fail)."""
    jobs = [1, 2, "die", 3, 4, "exit", 5, 6]
    got, deaths = {}, []
    t0 = time.monotonic()
    run_isolated(jobs, _die_on, 2, lambda k, r, e: got.setdefault(k, (r, e)),
                 died=lambda k, code: deaths.append((k, code)))
    assert time.monotonic() - t0 < 60
    assert {k: r for k, (r, e) in got.items() if e is None} == {
        0: 2, 1: 4, 3: 6, 4: 8, 6: 10, 7: 12}
    assert "killed by SIGKILL (out of memory?)" in got[2][1] and "2 tries" in got[2][1]
    assert got[2][0] is None and "exited with code 3" in got[5][1]
    assert sorted(deaths) == [(2, -signal.SIGKILL), (2, -signal.SIGKILL), (5, 3), (5, 3)]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to find the workers")
def test_batch_survives_killed_worker_bad_files_odd_names_and_second_run(tmp_path, rng):
    """30 recordings (one MP3), 2 corrupt, one with a name that is not UTF-8; a worker is killed
    with SIGKILL mid-run and a second batch on the same folder is refused: every good
    file is analysed, each bad one recorded, the CSV has every file."""
    root = tmp_path / "in"
    (root / "d").mkdir(parents=True)
    names = [f"r{i:02d}.{'flac' if i % 2 else 'wav'}" for i in range(26)] + ["r26.mp3"]
    for i, n in enumerate(names[:26]):
        sf.write(str(root / "d" / n), _pcg(rng, seconds=4.0, bpm=60.0 + i), SR)
    # MPEG layer III needs a rate of at least 8 kHz
    sf.write(str(root / "d" / names[26]), resample(_pcg(rng, 4.0, 86.0), SR, 8000), 8000,
             format="MP3")
    odd = os.fsdecode(b"caf\xe9 \xff.wav")  # latin-1 bytes: not UTF-8
    sf.write(os.fsencode(root / odd), _pcg(rng, seconds=4.0), SR)
    (root / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64))
    data = (root / "d" / "r01.flac").read_bytes()
    (root / "truncated.flac").write_bytes(data[:200])
    out = root / "out"  # inside the input: never read as input
    killed, refused = [], []

    def harness():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            if len(list(out.rglob("*.heartsound.json"))) >= 6 and worker_pids():
                pid = worker_pids()[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                try:
                    _run(root, out)
                except BatchLockedError as exc:
                    refused.append(str(exc))
            time.sleep(0.02)

    th = threading.Thread(target=harness)
    th.start()
    t0 = time.monotonic()
    try:
        res = _run(root, out, jobs=2, method="neural")
    finally:
        th.join()
    assert time.monotonic() - t0 < 60
    assert killed and refused and "another batch is writing into" in refused[0]
    # the kill is noticed as a death when the worker held a file (almost always: it is
    # idle only between sending a result and receiving the next file)
    assert len(res.worker_deaths) <= 1 and all("SIGKILL" in how for _, how in
                                                res.worker_deaths)
    assert (res.n_files, res.n_ok, res.n_error) == (30, 28, 2)
    rows = _read_csv(out / "summary.csv")
    assert len(rows) == 30 and all(r["status"] != "pending" for r in rows.values())
    assert {p for p, r in rows.items() if r["status"] == "error"} == {"corrupt.wav",
                                                                      "truncated.flac"}
    assert rows[odd]["status"] == "ok"
    j = out / odd.replace(".wav", ".heartsound.json")
    assert json.loads(j.read_text())["source"] == str(root / odd)
    hr = {p: float(r["heart_rate_bpm"]) for p, r in rows.items() if p.startswith("d/")}
    assert hr == pytest.approx({f"d/{n}": 60.0 + i for i, n in enumerate(names)}, abs=3)


ODD_NAMES = [b"caf\xe9 latin-1.wav", "ünïcødé 心音.flac".encode(), b"\xff\xfe\x80.wav",
             b'comma, "quote".wav', b"new\nline.wav", b"-dash;pipe|$(x).flac"]


def test_any_file_name_the_os_allows(tmp_path, rng):
    """Names that are not UTF-8, or hold CSV/shell metacharacters or a newline, are
    analysed; the CSV keeps their exact bytes and the JSON round-trips them."""
    root = tmp_path / "in"
    root.mkdir()
    for i, name in enumerate(ODD_NAMES):
        fmt = "FLAC" if name.endswith(b".flac") else "WAV"
        sf.write(os.path.join(os.fsencode(root), name), _pcg(rng, 4.0, 60.0 + 5 * i), SR,
                 format=fmt)
    out = tmp_path / "out"
    res = _run(root, out, tasks=("abnormal",))
    assert (res.n_ok, res.n_error) == (len(ODD_NAMES), 0)
    rows = _read_csv(out / "summary.csv")
    assert sorted(os.fsencode(p) for p in rows) == sorted(ODD_NAMES)
    for i, name in enumerate(ODD_NAMES):
        r = rows[os.fsdecode(name)]
        assert r["status"] == "ok"
        assert float(r["heart_rate_bpm"]) == pytest.approx(60.0 + 5 * i, abs=3)
        j = out / (os.fsdecode(name).rsplit(".", 1)[0] + ".heartsound.json")
        assert os.fsencode(json.loads(j.read_bytes())["source"]) == \
            os.path.join(os.fsencode(root), name)


def test_batch_never_replaces_annotations_or_foreign_files(tmp_path, rng):
    """--out pointed at a sibling folder of annotations (CirCor ``x.tsv``, a hand-made
    ``x.json``): they are untouched and the outputs are ``x.heartsound.*``; a foreign
    file under an output name fails only its recording; an output of the previous naming
    (``<stem>.json``) is not taken as done; a stereo recording's note reaches the CSV; a
    name that is not UTF-8 gets its figure and HTML."""
    rec, ann = tmp_path / "rec", tmp_path / "ann"
    rec.mkdir()
    ann.mkdir()
    shutil.copy(example_path(), rec / "x.flac")
    sf.write(str(rec / "y.wav"), _pcg(rng, 4.0, 75.0), SR)
    odd = os.fsdecode(b"z\xe9.wav")
    sf.write(os.fsencode(rec / odd), np.stack([_pcg(rng, 4.0, 65.0)] * 2, axis=1), SR)
    hand = {"x.tsv": b"0.000\t0.120\t1\n0.120\t0.400\t2\n",  # CirCor-like annotation
            "x.json": b'{"murmur": "Present"}\n',
            "y.heartsound.tsv": b"my own notes\n",  # a foreign file under an output name
            "x.heartsound.png": b"",  # an empty file is not heartsound's either
            }
    for name, data in hand.items():
        (ann / name).write_bytes(data)
    res = _run(rec, ann, tasks=("abnormal",), plots=True, html=True)
    assert {n: (ann / n).read_bytes() for n in hand} == hand
    assert (res.n_ok, res.n_error) == (1, 2)
    errors = dict(res.errors)
    assert "x.heartsound.png exists and was not written by heartsound" in errors["x.flac"]
    assert "y.heartsound.tsv exists and was not written by heartsound" in errors["y.wav"]
    made = sorted(os.fsencode(p.name) for p in ann.iterdir() if p.name not in hand)
    assert made == [b".heartsound-batch.lock", b"summary.csv", b"summary.parquet"] + [
        b"z\xe9.heartsound." + k for k in (b"html", b"json", b"png", b"tsv")]
    row = _read_csv(ann / "summary.csv")[odd]
    assert row["status"] == "ok" and "mixed down to mono" in row["quality_notes"]
    page = (ann / f"{odd.rsplit('.', 1)[0]}.heartsound.html").read_text()
    assert "z\\xe9.wav" in page

    # the foreign files moved away, a file of the previous naming left: all redone
    (ann / "y.heartsound.tsv").unlink()
    (ann / "x.heartsound.png").unlink()
    shutil.copy(ann / f"{odd.rsplit('.', 1)[0]}.heartsound.json", ann / "y.json")
    res2 = _run(rec, ann, tasks=("abnormal",), plots=True, html=True)
    assert (res2.n_ok, res2.n_resumed, res2.n_error) == (3, 1, 0)
    assert {n: (ann / n).read_bytes() for n in ("x.tsv", "x.json")} == \
        {n: hand[n] for n in ("x.tsv", "x.json")}
    assert (ann / "y.heartsound.json").is_file() and (ann / "x.heartsound.png").is_file()

    # a summary.csv the batch did not write stops the run before anything is written
    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.csv").write_text("patient,outcome\n1,Abnormal\n")
    with pytest.raises(OutputError, match="summary.csv exists and was not written"):
        _run(rec, other)
    assert (other / "summary.csv").read_text() == "patient,outcome\n1,Abnormal\n"
    assert sorted(p.name for p in other.iterdir()) == [".heartsound-batch.lock",
                                                        "summary.csv"]


def _cli(argv, capsys):
    rc = cli_main(["batch", *map(str, argv)])
    return rc, capsys.readouterr()


def test_batch_main_exit_codes_and_messages(tree, tmp_path, capsys):
    common = ["--no-plots", "--no-progress", "--method", "springer2016", "--tasks",
              "abnormal", "--jobs", "0"]
    rc, cap = _cli([tree, "--out", tmp_path / "o", *common], capsys)
    assert rc == 1
    assert "4 audio files: 3 ok" in cap.out and "1 failed" in cap.out
    assert "2 other files skipped" in cap.out
    assert cap.err.startswith("heartsound: error: ") and "bad.wav" in cap.err
    assert "Traceback" not in cap.err
    (tree / "bad.wav").unlink()
    rc, cap = _cli([tree, "--out", tmp_path / "o", *common], capsys)
    assert rc == 0 and "3 ok (3 already done)" in cap.out
    # --out is the input folder: refused, nothing written
    rc, cap = _cli([tree, "--out", tree, *common], capsys)
    assert rc == 2 and "is the input folder" in cap.err and not (tree / "summary.csv").exists()
    # --out cannot be created; input without audio
    rc, cap = _cli([tree, "--out", tree / "notes.txt" / "x", *common], capsys)
    assert rc == 2 and "cannot create --out" in cap.err
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, cap = _cli([empty, "--out", tmp_path / "o2", *common], capsys)
    assert rc == 2 and "no audio files" in cap.err
    with pytest.raises(SystemExit):
        cli_main(["batch", "--help"])
    assert "exit codes:" in capsys.readouterr().out


def test_batch_rejects_bad_jobs(tree, tmp_path):
    with pytest.raises(ParameterError, match="jobs"):
        run_batch(tree, tmp_path / "o", jobs=-1, progress=False)
