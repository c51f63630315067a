"""summary.parquet beside summary.csv: typed columns with the CSV's values, written
atomically with the CSV's final state (an interrupted run's too), skipped with one note
when pyarrow is missing, never over a file a batch did not write; the CSV rewrite that a
large cluster defers is written when due."""

from __future__ import annotations

import csv
import os
import sys
import time

import pytest
import soundfile as sf

from optional_deps import need

import heartsound.batch as batch
from heartsound.batch import analyze_job, run_batch, run_key
from heartsound.batch_files import PARQUET_SKIPPED, Summary, csv_columns
from heartsound.cli import main as cli_main
from heartsound.errors import OutputError
from heartsound.example import synthetic_pcg


pa = need("pyarrow")
pq = need("pyarrow.parquet")

SR = 2000
ODD = os.fsdecode(b"caf\xe9.wav")  # a name that is not UTF-8


@pytest.fixture
def folder(tmp_path):
    """in/ with three synthetic recordings (one with a non-UTF-8 name), a corrupt WAV
    and a text file."""
    root = tmp_path / "in"
    root.mkdir()
    for name, bpm in (("a.wav", 70.0), ("b.flac", 80.0), (".plain.wav", 90.0)):
        sf.write(root / name, synthetic_pcg(seconds=5.0, sr=SR, bpm=bpm)[0], SR)
    os.rename(root / ".plain.wav", os.fsencode(root / ODD))
    (root / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64))
    (root / "notes.txt").write_text("not audio")
    return root


def _run(root, out, **kw):
    kw = {"method": "springer2016", "plots": False, "progress": False, "jobs": 0,
          "tasks": ("abnormal", "murmur"), **kw}
    return run_batch(root, out, **kw)


def _csv(path):
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        return list(csv.DictReader(fh))


def test_parquet_typed_with_the_csv_values(folder, tmp_path):
    out = tmp_path / "out"
    res = _run(folder, out)
    assert res.parquet_path == out / "summary.parquet" and res.notes == []
    table = pq.read_table(res.parquet_path)
    assert table.column_names == csv_columns(("abnormal", "murmur"))
    types = {f.name: str(f.type) for f in table.schema}
    assert {k: types[k] for k in ("path", "duration_s", "sr", "usable", "n_cycles",
                                  "heart_rate_bpm", "murmur_uncertain", "abnormal_p_abnormal",
                                  "murmur_label")} == {
        "path": "string", "duration_s": "double", "sr": "int64", "usable": "bool",
        "n_cycles": "int64", "heart_rate_bpm": "double", "murmur_uncertain": "bool",
        "abnormal_p_abnormal": "double", "murmur_label": "string"}
    rows = table.to_pylist()
    odd = ODD.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    assert [r["path"] for r in rows] == ["a.wav", "b.flac", odd, "corrupt.wav", "notes.txt"]
    for r, c in zip(rows, _csv(out / "summary.csv")):
        for k, v in r.items():  # the CSV's text is the typed value written out
            want = c[k] if k != "path" else c[k].encode("utf-8", "surrogateescape").decode(
                "utf-8", "backslashreplace")
            assert ("" if v is None else str(v)) == want, (k, v, c[k])
    ok = rows[0]
    assert ok["status"] == "ok" and ok["sr"] == SR and ok["duration_s"] == pytest.approx(5.0)
    assert ok["heart_rate_bpm"] == pytest.approx(70, rel=0.05)
    bad = rows[3]
    assert bad["status"] == "error" and "not a readable audio" in bad["error"]
    assert bad["duration_s"] is None and bad["usable"] is None
    assert rows[4]["status"] == "skipped"
    # DuckDB / pandas / polars read it as typed: a filter on a float column, no parsing
    assert pq.read_table(res.parquet_path, filters=[("heart_rate_bpm", ">", 75.0)]
                         ).column("path").to_pylist() == ["b.flac", odd]
    assert not [p for p in out.iterdir() if p.name.startswith(".") and "lock" not in p.name]


def test_interrupted_run_parquet_has_pending_rows(folder, tmp_path, monkeypatch):
    real, seen = batch.analyze_job, []

    def interrupting(job):
        if seen:
            raise KeyboardInterrupt
        seen.append(job)
        return real(job)

    monkeypatch.setattr(batch, "analyze_job", interrupting)
    with pytest.raises(KeyboardInterrupt):
        _run(folder, tmp_path / "out")
    rows = pq.read_table(tmp_path / "out" / "summary.parquet").to_pylist()
    assert [r["status"] for r in rows] == ["ok", "pending", "pending", "pending", "skipped"]
    assert [r["status"] for r in _csv(tmp_path / "out" / "summary.csv")] == \
        [r["status"] for r in rows]
    monkeypatch.setattr(batch, "analyze_job", real)
    res = _run(folder, tmp_path / "out")  # resumed: same parquet as a run in one go
    assert (res.n_resumed, res.n_ok) == (1, 3)
    _run(folder, tmp_path / "whole")
    assert pq.read_table(tmp_path / "out" / "summary.parquet").equals(
        pq.read_table(tmp_path / "whole" / "summary.parquet"))


def test_without_pyarrow_batch_works_and_says_so_once(folder, tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    rc = cli_main(["batch", str(folder), "--out", str(tmp_path / "out"), "--method",
                   "springer2016", "--no-plots", "--no-progress", "--jobs", "0"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("summary.parquet not written") == 1
    assert PARQUET_SKIPPED in err
    assert (tmp_path / "out" / "summary.csv").is_file()
    assert not (tmp_path / "out" / "summary.parquet").exists()


def test_foreign_parquet_is_not_replaced(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(pa.table({"patient": [1], "outcome": ["Abnormal"]}), out / "summary.parquet")
    before = (out / "summary.parquet").read_bytes()
    with pytest.raises(OutputError, match="summary.parquet exists and was not written"):
        _run(folder, out)
    assert (out / "summary.parquet").read_bytes() == before
    assert not (out / "summary.csv").exists()


def test_deferred_csv_rewrite_is_written_when_due(tmp_path):
    """With ``max_share`` a change right after a rewrite waits (rewrites take at most
    that share of the time) but is written by the timer, without another change."""
    path = tmp_path / "summary.csv"
    s = Summary(path, ("abnormal",), ["a.wav", "b.wav"], max_share=0.001)
    s.flush()  # the first rewrite: the next one waits 1000 times as long as it took
    assert s._next > time.monotonic()
    s._next = time.monotonic() + 0.5  # a rewrite of ~0.5 ms, whatever this one took
    s.set(0, {"path": "a.wav", "status": "error", "error": "x"})
    s.flush(force=False)
    assert [r["status"] for r in _csv(path)] == ["pending", "pending"]
    deadline = time.monotonic() + 20
    while _csv(path)[0]["status"] != "error" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r["status"] for r in _csv(path)] == ["error", "pending"]
    assert s.close() is None and (tmp_path / "summary.parquet").is_file()


def test_a_worker_with_another_installation_analyses_nothing(folder, tmp_path):
    """A job whose run key is not this process's (a cluster worker with another
    heartsound version or other model files) is recorded as failed, nothing written."""
    key = run_key("springer2016", ("abnormal",))
    job = (str(folder / "a.wav"), str(tmp_path / "o"), "a", key, False, False)
    d, err = analyze_job(job)
    assert err is None and d["batch"]["key"] == key
    other_models = {**key["models"], "murmur": "0" * 64}
    for change in ({"heartsound_version": "0.0.1"}, {"models": other_models}):
        d, err = analyze_job((*job[:3], {**key, **change}, False, False))
        assert d is None and "not analysed: this worker has heartsound" in err
        assert ("other model files" in err) == ("models" in change)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.heartsound.json",
                                                                 "a.heartsound.tsv"]
