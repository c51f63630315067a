"""Every code block of README.md and of the user guide (docs/guide/*.rst) runs.

Blocks are run in a fresh temporary folder that holds what the documents name:

* ``recording.wav``: a real recording (CirCor ``49574_AV``, a murmur, converted to WAV in
  the temporary folder; no audio is stored in the repository) and ``recording.tsv``, its
  CirCor annotation;
* ``archive/``: two more recordings (PhysioNet ``a0008``, PASCAL set B
  ``normal__170_1307970562729_B``) as WAV;
* ``data``: a link to the corpora (``$HEARTSOUND_DATA``, default ``../shared/data``), so
  ``--root data/pascal2011`` means the real corpus.

Python blocks (```` ```python ```` in Markdown, ``.. code-block:: python`` in reST) run
whole, each in its own interpreter. In shell blocks (``bash``/``console``) every line (or
``&&`` part, or pipeline) that calls ``heartsound`` runs as a subprocess with
``python -m heartsound`` and must exit 0; ``pip install`` and ``python -m ...`` parts are
what CI itself runs (``.ci/run``) and are left out. Commands that train a model, download
a corpus or classify a whole corpus (:data:`PARSE_ONLY`) run for minutes or need the
network: for them only the command line is parsed, with heartsound's own parser.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from heartsound.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs" / "guide").glob("*.rst"))]
#: Command prefixes whose lines are parsed, not run (minutes of training, the network,
#: hundreds of recordings, a server that runs until stopped).
PARSE_ONLY = ("heartsound train ", "heartsound datasets download ",
              "heartsound evaluate classification ", "heartsound serve ")
#: Text in a line that names a machine not here (a remote Dask scheduler) or the user's own
#: files (a site's labels and the calibration fitted on them): parsed only.
REMOTE = ("tcp://", "labels.csv", "site.json")
#: Seconds one block may take.
TIMEOUT_S = 240

_SUBCOMMAND = re.compile(r"heartsound\s+(\S+)")
_MD_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)
_RST_BLOCK = re.compile(r"^\.\. code-block:: (\w+)\n((?:[ \t]*\n|[ \t]+[^\n]*\n|[ \t]+[^\n]*$)+)",
                        re.M)


def blocks(path: Path) -> list[tuple[str, str]]:
    """``(language, code)`` of every code block of a Markdown or reST file, in order."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        return [(m.group(1), m.group(2)) for m in _MD_FENCE.finditer(text)]
    out = []
    for m in _RST_BLOCK.finditer(text):
        lines = [ln for ln in m.group(2).splitlines() if not ln.lstrip().startswith(":")]
        body = "\n".join(lines)
        indent = min((len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()), default=0)
        out.append((m.group(1), "\n".join(ln[indent:] for ln in body.splitlines()) + "\n"))
    return out


def _strip_comment(line: str) -> str:
    """``line`` without a trailing `` # comment``."""
    return re.sub(r"\s+#(\s.*)?$", "", line).rstrip()


def shell_commands(code: str) -> list[str]:
    """The command lines of a shell block that call heartsound, one per ``&&`` part;
    a pipeline stays whole."""
    out = []
    for line in code.splitlines():
        line = _strip_comment(line.strip().removeprefix("$ "))
        for part in (p.strip() for p in line.split("&&")):
            if re.search(r"(^|\|\s*)heartsound\s", part):
                out.append(part)
    return out


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for path in DOCUMENTS:
        for i, (lang, code) in enumerate(blocks(path)):
            name = f"{path.relative_to(REPO)}#{i}"
            if lang == "python":
                cases.append((name, "python", code))
            elif lang in ("bash", "console", "shell", "sh"):
                cases += [(f"{name}:{_SUBCOMMAND.search(c).group(1)}", "shell", c)
                          for c in shell_commands(code)]
    return cases


CASES = _cases()


def test_the_documents_have_blocks_to_run():
    kinds = [k for _, k, _ in CASES]
    assert kinds.count("python") >= 8 and kinds.count("shell") >= 20, kinds
    readme = [c for n, k, c in CASES if n.startswith("README.md")]
    assert any("| heartsound listen -" in c for c in readme), "README pipe example missing"


@pytest.fixture(scope="module")
def template(tmp_path_factory, data_root) -> Path:
    d = tmp_path_factory.mktemp("docs_blocks")
    rec = data_root / "circor2022" / "recordings" / "49574_AV"
    y, sr = sf.read(rec.with_suffix(".flac"))
    sf.write(d / "recording.wav", y, sr, subtype="PCM_16")
    (d / "recording.tsv").write_bytes(rec.with_suffix(".tsv").read_bytes())
    (d / "archive").mkdir()
    for rel in ("physionet2016/training-a/a0008.flac",
                "pascal2011/setB/normal__170_1307970562729_B.flac"):
        y, sr = sf.read(data_root / rel)
        sf.write(d / "archive" / (Path(rel).stem + ".wav"), np.asarray(y), sr,
                 subtype="PCM_16")
    (d / "data").symlink_to(data_root.resolve(), target_is_directory=True)
    return d


@pytest.fixture
def workdir(template, tmp_path) -> Path:
    """A fresh copy of :func:`template` for each block (outputs of one never meet another)."""
    d = tmp_path / "work"
    shutil.copytree(template, d, symlinks=True)
    return d


def _env() -> dict[str, str]:
    src = str(REPO / "src")
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": src if not path else f"{src}{os.pathsep}{path}",
            "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}


def _run(cmd: list[str] | str, cwd: Path, shell: bool = False) -> None:
    p = subprocess.run(cmd, cwd=cwd, env=_env(), shell=shell, capture_output=True,
                       text=True, timeout=TIMEOUT_S, executable="/bin/bash" if shell else None)
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"


@pytest.mark.corpus
@pytest.mark.slow
@pytest.mark.parametrize("name,kind,code", CASES, ids=[c[0] for c in CASES])
def test_block_runs(name, kind, code, workdir):
    if kind == "python":
        _run([sys.executable, "-c", code], workdir)
        return
    if code.startswith(PARSE_ONLY) or any(r in code for r in REMOTE):
        argv = shlex.split(code)[1:]
        build_parser(argv[0]).parse_args(argv)  # SystemExit(2) on a bad option
        return
    py = shlex.quote(sys.executable)
    line = re.sub(r"(^|\|\s*)heartsound\s", lambda m: f"{m.group(1)}{py} -m heartsound ", code)
    _run(f"set -o pipefail; {line}", workdir, shell=True)
