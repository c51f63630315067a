"""The repository holds no machine-specific paths: committed results, docs and code say
``../shared/data`` or a path relative to the repository, never where a folder was on the
machine that produced them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from heartsound.serialize import portable

REPO = Path(__file__).resolve().parents[1]
#: Home and workspace folders of the machines results were made on (built from parts so
#: that this file does not match itself).
MACHINE_PATH = re.compile("(?<![\\w.])/(" + "|".join(
    ["wo" + "rk/", "ro" + "ot/", "ho" + "me/", "Us" + "ers/", "tm" + "p/"]) + ")")
#: A relative path two or more folders up: from the repository (where commands run) that
#: leaves its parent folder and names a place on one machine, unless it leads back into
#: the repository (a docs page including ``src/``).
CLIMB = re.compile("(?<![\\w./])(?:\\.\\./){2,}([\\w<][^/\\s\"']*)")
TOP_LEVEL = {p.name for p in REPO.iterdir()}


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO / p for p in out.decode().split("\0") if p]


def test_no_machine_paths_in_tracked_files():
    hits = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary (models, screenshots)
        for n, line in enumerate(text.splitlines(), 1):
            m = MACHINE_PATH.search(line) or next(
                (c for c in CLIMB.finditer(line) if c.group(1) not in TOP_LEVEL), None)
            if m:
                hits.append(f"{path.relative_to(REPO)}:{n}: ...{line[max(0, m.start() - 40):m.end() + 40]}...")
    assert not hits, "absolute machine paths (use ../shared/data or repo-relative paths):\n" \
        + "\n".join(hits[:20])


def test_portable_makes_recorded_paths_relative(tmp_path):
    repo, data = tmp_path / "repo", tmp_path / "shared" / "data"
    rec = {"root": [str(data)], "out": "out/x.json", "n": 3, "flag": None,
           "command": f"python bench.py --model {repo / 'm.onnx'} --n 3"}
    assert portable(rec, start=repo) == {
        "root": ["../shared/data"], "out": "out/x.json", "n": 3, "flag": None,
        "command": "python bench.py --model m.onnx --n 3"}
    assert portable((str(repo / "a"), 1.5), start=repo) == ("a", 1.5)
    # neither in the repository nor beside it: only its name is kept
    assert portable(f"--base {tmp_path.parent / 'scratch' / 'base'}", start=repo) == "--base <base>"
    assert portable(str(tmp_path / 'notes' / 'm.onnx'), start=repo) == "<m.onnx>"
