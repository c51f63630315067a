"""The command line: version, help, info on each corpus and on bad input (no tracebacks)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from heartsound import __version__
from heartsound.classification.tasks import TASKS
from heartsound.cli import build_parser, main
from heartsound.segmentation import DEFAULT_METHOD, METHODS


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heartsound", *args], capture_output=True,
                          text=True, timeout=120)


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"heartsound {__version__}"


def test_help_lists_subcommands():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("analyze", "segment", "classify", "train", "evaluate", "batch", "info",
                "datasets"):
        assert cmd in r.stdout


@pytest.mark.corpus
@pytest.mark.parametrize("rel", [
    "circor2022/recordings/9979_AV.flac",
    "physionet2016/training-a/a0001.flac",
    "pascal2011/setA/normal__201102081321.flac",
    "pascal2011/setB/normal__103_1305031931979_B.flac",
])
def test_info_on_each_corpus(data_root, rel, capsys):
    path = data_root / rel
    if not path.exists():  # set B stems: pick any file of the set
        path = sorted((data_root / rel).parent.glob("normal__*.flac"))[0]
    assert main(["info", "--json", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    info = sf.info(str(path))
    assert out["sr"] == info.samplerate
    assert out["duration_s"] == pytest.approx(info.frames / info.samplerate, abs=1e-3)
    assert out["channels"] == 1


def _bad_files(tmp_path):
    files = {}
    files["missing"] = tmp_path / "missing.wav"
    p = tmp_path / "text.wav"
    p.write_text("not audio at all")
    files["not audio"] = p
    p = tmp_path / "zero.wav"
    p.write_bytes(b"")
    files["zero bytes"] = p
    p = tmp_path / "hdr.wav"
    sf.write(p, np.zeros(0), 2000)
    files["no samples"] = p
    p = tmp_path / "short.wav"
    sf.write(p, np.random.default_rng(0).standard_normal(500) * 0.1, 2000)
    files["too short"] = p
    p = tmp_path / "silent.wav"
    sf.write(p, np.zeros(8000), 2000)
    files["silent"] = p
    p = tmp_path / "nan.wav"
    y = np.random.default_rng(0).standard_normal(8000) * 0.1
    y[5] = np.nan
    sf.write(p, y, 2000, subtype="FLOAT")
    files["nan"] = p
    p = tmp_path / "low.wav"
    sf.write(p, np.random.default_rng(0).standard_normal(1200) * 0.1, 300)
    files["low rate"] = p
    return files


def test_info_bad_input_clean_message(tmp_path):
    for kind, path in _bad_files(tmp_path).items():
        r = run_cli("info", str(path))
        assert r.returncode == 2, kind
        assert "Traceback" not in r.stderr, kind
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("heartsound: error: "), (kind, r.stderr)
        assert path.name in lines[0], kind


def _options(command: str) -> dict:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {opt: a for a in sub.choices[command]._actions for opt in a.option_strings}


@pytest.mark.parametrize("command", ["analyze", "batch", "segment"])
def test_method_choices_come_from_the_registry(command):
    opts = _options(command)
    assert opts["--method"].choices == sorted(METHODS)
    assert opts["--method"].default == DEFAULT_METHOD
    assert opts["--segmenter"].dest == "method"  # hidden alias


@pytest.mark.parametrize("command", ["analyze", "batch", "classify"])
def test_tasks_option_everywhere(command, tmp_path):
    from heartsound.cli._common import parse_tasks

    opts = _options(command)
    assert opts["--task"].dest == opts["--tasks"].dest == "tasks"
    p = build_parser()
    args = p.parse_args([command, *(["x"] if command != "batch" else ["x", "--out", "o"]),
                         "--task", "all"])
    assert parse_tasks(args) == TASKS
    args = p.parse_args([command, *(["x"] if command != "batch" else ["x", "--out", "o"]),
                         "--tasks", "murmur, severity"])
    assert parse_tasks(args) == ("murmur", "severity")
    if command == "analyze":
        assert parse_tasks(p.parse_args([command, "x"])) == TASKS


def test_unknown_task_is_a_clean_error(tmp_path):
    r = run_cli("classify", str(tmp_path / "x.wav"), "--tasks", "nope")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "valid tasks: abnormal, murmur, severity" in r.stderr


def test_quality_command_listed_or_tolerated():
    """``quality`` is in the command table; without its module the CLI still builds."""
    from heartsound.cli import _COMMANDS

    assert ("quality", "heartsound.cli.quality") in [(c, m) for c, m, _h in _COMMANDS]
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"analyze", "segment", "classify", "info", "batch"} <= set(sub.choices)


def _example_copy(tmp_path):
    import shutil

    from heartsound.example import example_path

    good = tmp_path / "good.flac"
    shutil.copy(example_path(), good)
    bad = tmp_path / "a_bad.wav"
    bad.write_text("not audio")
    return bad, good


@pytest.mark.parametrize("command", ["segment", "info", "classify"])
def test_bad_file_does_not_stop_the_next(command, tmp_path, capsys):
    bad, good = _example_copy(tmp_path)
    extra = ["--out", str(tmp_path / "o")] if command == "segment" else []
    assert main([command, str(bad), str(good), "--json", *extra]) == 2
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["file"] == str(good)
    assert err.startswith(f"heartsound: error: {bad}") and err.count("\n") == 1


def test_segment_writes_the_shared_tsv_and_json(tmp_path, capsys):
    """``segment`` writes the rows ``analyze`` writes, through the same writers."""
    from heartsound.io import load
    from heartsound.pipeline import analyze
    from heartsound.serialize import tsv_text

    _bad, good = _example_copy(tmp_path)
    assert main(["segment", str(good), "--json", "--out", str(tmp_path / "o")]) == 0
    d = json.loads(capsys.readouterr().out)
    a = analyze(good, tasks=("abnormal",)).to_dict()
    o = tmp_path / "o"
    assert (o / "good.heartsound.tsv").read_text() == tsv_text(a["segmentation"]["states"])
    assert (o / "good.heartsound.png").read_bytes().startswith(b"\x89PNG")
    assert d["tsv"] == str(o / "good.heartsound.tsv") and d["notes"] == {}
    assert d["heart_rate_bpm"] == a["heart_rate_bpm"] == a["segmentation"]["heart_rate_bpm"]
    assert d["sr"] == load(good).sr == 2000
    assert d["events"] == a["segmentation"]["events"]
    assert {"file", "tsv", "png", "prior_heart_rate_bpm", "intervals"} <= set(d)


def test_info_quality_is_the_analysis_quality(tmp_path, capsys):
    from heartsound.pipeline import analyze

    _bad, good = _example_copy(tmp_path)
    assert main(["info", str(good), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["quality"] == analyze(good, tasks=("abnormal",)).to_dict()["quality"]
    assert set(d) >= {"file", "duration_s", "sr", "channels", "format", "subtype",
                      "n_clipped", "clipped_share", "quality"}


# --- never a traceback ----------------------------------------------------------------------

def test_default_out_is_not_the_current_folder():
    for command in ("analyze", "segment"):
        args = build_parser(command).parse_args([command, "x.wav"])
        assert str(args.out) == "heartsound-out"


@pytest.mark.parametrize("exc,line", [
    (RuntimeError("boom"), "heartsound: error: unexpected RuntimeError: boom (please report "
                           "it; -v shows the traceback)"),
    (PermissionError(13, "Permission denied", "/data/x"),
     "heartsound: error: /data/x: Permission denied"),
    (OSError(28, "No space left on device"), "heartsound: error: No space left on device"),
])
def test_any_exception_is_one_line(exc, line, monkeypatch, capsys):
    import heartsound.cli.info as info

    def fail(_args):
        raise exc

    monkeypatch.setattr(info, "main", fail)
    assert main(["info", "x.wav"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [line]
    assert main(["-v", "info", "x.wav"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == line
    assert ("Traceback" in err) == isinstance(exc, RuntimeError)  # -v: for bug reports


def test_a_python_warning_is_one_line(monkeypatch, capsys):
    import warnings

    import heartsound.cli.info as info

    def warn(_args):
        warnings.warn("something odd\nsecond line", UserWarning)
        return 0

    monkeypatch.setattr(info, "main", warn)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["info", "x.wav"]) == 0
    assert capsys.readouterr().err == "heartsound: warning: something odd\\nsecond line\n"
