"""The fault suite: every command against every kind of bad input.

For each bad input every file command (``analyze``, ``segment``, ``classify``, ``info``,
``quality``) must print exactly one ``heartsound: error: <file>: <problem>`` line on
stderr, no traceback, exit 2, go on with the next file and leave no partial output.
Outputs never replace a file heartsound did not write; a degraded recording (truncated,
low rate, mixed down, cancelling channels, beyond full scale) is analysed with a note.
The property-based half (generated file names and signals) is test_faults_properties.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import heartsound.io as hio
from heartsound.cli import main
from heartsound.example import synthetic_pcg
from heartsound.report import is_heartsound_output

SR = 2000
COMMANDS = ("analyze", "segment", "classify", "info", "quality")
#: Commands that write files, and what they write for one good file.
WRITES = {"analyze": {"json", "tsv"}, "segment": {"tsv"}}
LINUX = sys.platform.startswith("linux")
#: Keeps examples fast: no figures, the quick segmenter, one classifier.
FAST = {"analyze": ["--no-plots", "--method", "springer2016", "--tasks", "abnormal"],
        "segment": ["--no-plot", "--method", "springer2016"],
        "classify": ["--tasks", "abnormal"], "info": [], "quality": []}


def _good(path: Path, seconds: float = 4.0) -> Path:
    """A synthetic PCG at ``path`` (written under a plain name, then renamed: soundfile
    cannot open names that are not UTF-8)."""
    plain = path.with_name(".plain.wav")
    sf.write(plain, synthetic_pcg(seconds=seconds, sr=SR)[0], SR)
    os.rename(plain, path)
    return path


def _tone(seconds: float, sr: int = SR) -> np.ndarray:
    return 0.3 * np.sin(2 * np.pi * 40 * np.arange(int(seconds * sr)) / sr)


def _make_bad(kind: str, d: Path) -> Path:
    """A bad input of ``kind`` in folder ``d``."""
    p = d / f"bad_{kind}.wav"
    if kind == "missing":
        return p
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "header_only":
        sf.write(p, np.zeros(0), SR)
    elif kind == "not_audio":
        p.write_text("subject,murmur\n9979,Present\n")
    elif kind == "corrupt":  # a WAV header over random bytes of the wrong format code
        _good(p)
        raw = bytearray(p.read_bytes())
        raw[20:22] = b"\x99\x99"
        p.write_bytes(bytes(raw))
    elif kind == "silent":
        sf.write(p, np.zeros(4 * SR), SR)
    elif kind == "too_short":
        sf.write(p, _tone(0.3), SR)
    elif kind in ("nan", "inf"):
        y = _tone(3.0)
        y[100:120] = np.nan if kind == "nan" else np.inf
        sf.write(p, y, SR, subtype="FLOAT")
    elif kind == "rate_too_low":
        sf.write(p, _tone(3.0, 300), 300)
    elif kind == "directory":
        p.mkdir()
    elif kind == "unreadable":
        _good(p)
    elif kind == "fifo":
        os.mkfifo(p)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return p


BAD_KINDS = ["missing", "empty", "header_only", "not_audio", "corrupt", "silent", "too_short",
             "nan", "inf", "rate_too_low", "directory", "unreadable", "fifo"]


def _outcome(command: str, kind: str) -> int:
    """Expected exit code of ``command`` on a bad input of ``kind`` alone."""
    return 0 if (command, kind) == ("quality", "too_short") else 2  # quality scores any length


@pytest.fixture
def unreadable(monkeypatch):
    """Make ``path`` unreadable: chmod 000, or (as root, who reads anything) an ``open``
    in :mod:`heartsound.io` that is denied for it."""
    def make(path: Path) -> None:
        if os.geteuid() != 0:
            path.chmod(0)
            return
        real = open

        def guarded(file, *a, **k):
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return real(file, *a, **k)

        monkeypatch.setattr(hio, "open", guarded, raising=False)
    return make


def _run(capsys, command: str, files: list[str], out: Path | None = None) -> tuple[int, str, str]:
    args = [command, *FAST[command]]
    if command in WRITES:
        args += ["--out", str(out)]
    with warnings.catch_warnings():  # a warning the user would see is a failure here
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("error", RuntimeWarning)
        rc = main([*args, "--", *files])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _only_outputs(out: Path, stems: list[str], command: str) -> None:
    """``out`` holds exactly the outputs of ``stems`` (no partial, no temporary file)."""
    want = {f"{s}.heartsound.{k}" for s in stems for k in WRITES[command]}
    have = {p.name for p in out.iterdir()} if out.exists() else set()
    assert have == want
    assert all(is_heartsound_output(out / n) for n in have)


@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.parametrize("command", COMMANDS)
def test_each_bad_input_one_line(command, kind, tmp_path, capsys, unreadable):
    if kind == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    bad = _make_bad(kind, tmp_path)
    if kind == "unreadable":
        unreadable(bad)
    out = tmp_path / "out"
    rc, stdout, err = _run(capsys, command, [str(bad)], out)
    assert rc == _outcome(command, kind), err
    if rc == 0:
        return
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"heartsound: error: {bad}: "), lines[0]
    assert "Traceback" not in err and stdout == ""
    if command in WRITES:
        _only_outputs(out, [], command)


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_files_do_not_stop_the_good_ones(command, tmp_path, capsys, unreadable):
    """All bad kinds, with good files between them: each bad file one line, in order; each
    good file processed; outputs only for the good files."""
    kinds = [k for k in BAD_KINDS if _outcome(command, k) == 2
             and (k != "fifo" or hasattr(os, "mkfifo"))]
    files: list[Path] = []
    for i, k in enumerate(kinds):
        files.append(_make_bad(k, tmp_path))
        if i % 4 == 0:
            files.append(_good(tmp_path / f"good{i}.wav"))
    unreadable(tmp_path / "bad_unreadable.wav")
    out = tmp_path / "out"
    rc, stdout, err = _run(capsys, command, [str(f) for f in files], out)
    assert rc == 2
    bad = [f for f in files if f.name.startswith("bad_")]
    good = [f for f in files if f.name.startswith("good")]
    lines = err.splitlines()
    assert [ln.split(": ")[2] for ln in lines] == [str(f) for f in bad]
    assert all(ln.startswith("heartsound: error: ") for ln in lines)
    assert "Traceback" not in err
    for g in good:
        assert str(g) in stdout
    if command in WRITES:
        _only_outputs(out, [g.stem for g in good], command)


# --- outputs never clobber --------------------------------------------------------------

@pytest.mark.parametrize("command", sorted(WRITES))
def test_annotation_beside_the_recording_is_kept(command, tmp_path, capsys):
    """CirCor keeps ``9979_AV.tsv`` beside ``9979_AV.flac``: writing into that folder,
    explicitly or from it with the default ``--out``, leaves the annotation alone."""
    rec = _good(tmp_path / "9979_AV.wav")
    ann = tmp_path / "9979_AV.tsv"
    ann.write_text("0.000000\t0.265000\t0\n0.265000\t0.385000\t1\n")
    before = ann.read_bytes()
    rc, _out, err = _run(capsys, command, [str(rec)], tmp_path)
    assert rc == 0, err
    assert ann.read_bytes() == before
    assert (tmp_path / "9979_AV.heartsound.tsv").is_file()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:  # the default output folder is not the current one
        assert main([command, *FAST[command], rec.name]) == 0
    finally:
        os.chdir(cwd)
    assert ann.read_bytes() == before
    assert (tmp_path / "heartsound-out" / "9979_AV.heartsound.tsv").is_file()


@pytest.mark.parametrize("command", sorted(WRITES))
def test_a_foreign_file_is_never_replaced(command, tmp_path, capsys):
    """A file named like an output but not written by heartsound: that recording is
    reported and skipped (nothing of it written), the next one still runs."""
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "a.heartsound.tsv"
    mine.write_text("start,end,state\nmy corrections\n")
    a, b = _good(tmp_path / "a.wav"), _good(tmp_path / "b.wav")
    rc, stdout, err = _run(capsys, command, [str(a), str(b)], out)
    assert rc == 2
    assert mine.read_text() == "start,end,state\nmy corrections\n"
    (line,) = err.splitlines()
    assert line.startswith(f"heartsound: error: {a}: {mine} exists and was not written by")
    assert str(b) in stdout
    assert {p.name for p in out.iterdir()} == {mine.name} | {
        f"b.heartsound.{k}" for k in WRITES[command]}


@pytest.mark.parametrize("command", sorted(WRITES))
def test_own_outputs_are_replaced_and_stems_made_distinct(command, tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _good(tmp_path / "a" / "rec.wav", 4.0)
    b = _good(tmp_path / "b" / "REC.wav", 5.0)  # same stem on a case-insensitive disk
    out = tmp_path / "out"
    for _ in range(2):  # the second run replaces the first run's files
        rc, _stdout, err = _run(capsys, command, [str(a), str(b)], out)
        assert rc == 0, err
    _only_outputs(out, ["rec", "REC-2"], command)
    if command == "analyze":
        src = {json.loads((out / f"{s}.heartsound.json").read_text())["source"]
               for s in ("rec", "REC-2")}
        assert src == {str(a), str(b)}


@pytest.mark.parametrize("command", sorted(WRITES))
def test_out_that_is_a_file_or_not_writable(command, tmp_path, capsys, monkeypatch):
    good = _good(tmp_path / "g.wav")
    afile = tmp_path / "afile"
    afile.write_text("keep")
    for out in (afile, afile / "sub"):
        rc, stdout, err = _run(capsys, command, [str(good)], out)
        assert rc == 2 and stdout == ""
        assert err.splitlines() == [f"heartsound: error: --out {out}: {afile} is a file, "
                                    "not a folder"]
    assert afile.read_text() == "keep"
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: simulate a read-only file system
        import heartsound.cli._common as common

        def refuse(*_a, **_k):
            raise OSError(30, "Read-only file system")

        monkeypatch.setattr(common.tempfile, "mkstemp", refuse)
    else:
        ro.chmod(0o555)
    rc, stdout, err = _run(capsys, command, [str(good)], ro)
    assert rc == 2 and stdout == "" and "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith(f"heartsound: error: --out {ro}: folder is not writable (")
    assert list(ro.iterdir()) == []


def test_write_failure_leaves_nothing(tmp_path, capsys, monkeypatch):
    """Disk full while writing the second output: no file of that recording is left, and
    the error names the recording and the output folder."""
    import heartsound.serialize as ser

    real = ser.os.fdopen
    calls = []

    def full(fd, *a, **k):
        calls.append(fd)
        if len(calls) == 2:
            os.close(fd)
            raise OSError(28, "No space left on device")
        return real(fd, *a, **k)

    monkeypatch.setattr(ser.os, "fdopen", full)
    good = _good(tmp_path / "g.wav")
    out = tmp_path / "out"
    rc, _stdout, err = _run(capsys, "analyze", [str(good)], out)
    assert rc == 2
    (line,) = err.splitlines()
    assert line == f"heartsound: error: {good}: cannot write in {out}: No space left on device"
    assert list(out.iterdir()) == []


# --- recordings that are analysed, with a note -------------------------------------------

def _notes_cases(d: Path) -> dict[str, Path]:
    y = synthetic_pcg(seconds=6.0, sr=4000)[0]
    cases = {}
    p = d / "cut.wav"
    sf.write(p, y, 4000)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) * 2 // 3])
    cases["truncated"] = p
    p = d / "low.wav"
    sf.write(p, y[::5], 800)
    cases["low_sample_rate"] = p
    p = d / "stereo.wav"
    sf.write(p, np.stack([y, 0.5 * y], axis=1), 4000)
    cases["mixed_down"] = p
    p = d / "polarity.wav"
    sf.write(p, np.stack([y, -y], axis=1), 4000)
    cases["channels_cancel"] = p
    p = d / "loud.wav"
    sf.write(p, 2.5 * y, 4000, subtype="FLOAT")
    cases["beyond_full_scale"] = p
    return cases


@pytest.mark.parametrize("command", COMMANDS)
def test_degraded_recordings_are_analysed_with_a_note(command, tmp_path, capsys):
    cases = _notes_cases(tmp_path)
    rc, stdout, err = _run(capsys, command, [str(p) for p in cases.values()],
                           tmp_path / "out")
    assert rc == 0 and err == ""  # no raw UserWarning, no error
    for code, p in cases.items():
        line = next(ln for ln in stdout.splitlines() if code in ln)
        assert str(p) in line or command in ("analyze", "info", "segment"), line
    if command == "analyze":
        for code, p in cases.items():
            d = json.loads((tmp_path / "out" / f"{p.stem}.heartsound.json").read_text())
            assert list(d["quality"]["notes"]) == [code]


# --- file names (generated ones: test_faults_properties.py) --------------------------

@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="file names are arbitrary bytes only on Linux")
def test_non_utf8_name_from_a_real_command_line(tmp_path):
    """Through ``sys.argv`` (a subprocess): one escaped error line, exit 2, then the good
    file."""
    bad = os.path.join(os.fsencode(tmp_path), b"bad\xff\xfe.wav")
    with open(bad, "wb") as fh:
        fh.write(b"not audio")
    good = _good(tmp_path / "good.wav", 2.0)
    r = subprocess.run([sys.executable, "-m", "heartsound", "info", bad, os.fsencode(good)],
                       capture_output=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        b"heartsound: error: " + os.fsencode(tmp_path) + b"/bad\\xff\\xfe.wav: not a "
        b"readable audio file (Format not recognised.)"]
    assert str(good).encode() in r.stdout
