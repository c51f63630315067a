"""The command line: version, help, info on each corpus and on bad input (no tracebacks)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from heartsound import __version__
from heartsound.cli import main


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
