"""The documented top-level API: README's Python snippet and every name of ``heartsound``,
each used twice in one process, before and after every submodule is imported."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import heartsound

README = Path(__file__).resolve().parents[1] / "README.md"
#: The environment of a child Python that imports this same heartsound.
_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
    [str(Path(heartsound.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}

#: Every public name, and a call of it that checks a known answer. ``ex`` is the example
#: recording, ``a`` its Analysis.
_CALLS = textwrap.dedent('''
    import importlib, pkgutil, sys
    import numpy as np
    import heartsound as hs

    EXPECTED = {"__version__", "HeartsoundError", "AudioError", "ModelError",
                "ParameterError", "Recording", "load", "analyze", "Analysis", "TaskResult",
                "segment", "Segmentation", "Event", "classify", "classify_all",
                "ClassificationResult", "assess", "Quality", "plot", "plot_segmentation",
                "plot_attention", "example_path", "synthetic_pcg", "metrics", "datasets",
                "Stream"}
    assert set(hs.__all__) == EXPECTED, set(hs.__all__) ^ EXPECTED
    assert dir(hs) == sorted(EXPECTED), dir(hs)

    def every_name():
        ex = hs.example_path()
        rec = hs.load(ex)
        assert isinstance(rec, hs.Recording) and rec.sr == 2000 and rec.duration_s == 10.0
        q = hs.assess(rec.y, rec.sr)
        assert isinstance(q, hs.Quality) and q.usable
        seg = hs.segment(rec.y, rec.sr)
        assert isinstance(seg, hs.Segmentation) and seg.sr == 2000
        ev = seg.events()[0]
        assert isinstance(ev, hs.Event) and ev.onset == round(ev.onset_s * 2000)
        r = hs.classify(rec.y, rec.sr, task="murmur")
        assert isinstance(r, hs.ClassificationResult) and r.label == "Present"
        allr = hs.classify_all(rec.y, rec.sr)
        assert set(allr) == {"abnormal", "murmur", "severity"}
        a = hs.analyze(ex)
        assert isinstance(a, hs.Analysis) and isinstance(a.classification["murmur"],
                                                          hs.TaskResult)
        d = a.to_dict()
        assert d["heart_rate_bpm"] == d["segmentation"]["heart_rate_bpm"] == \\
            round(a.heart_rate_bpm, 6)
        assert 70 < a.heart_rate_bpm < 76 and d["n_cycles"] == 10  # 11 beats: 10 S1-S1 cycles
        fig = hs.plot(a)
        assert type(fig).__name__ == "Figure" and len(fig.axes) >= 5
        ax = hs.plot_segmentation(seg, rec.y)
        assert ax.get_xlim() == (0.0, 10.0)
        ax = hs.plot_attention(a.classification["severity"].result)
        assert ax.get_ylabel() == "frequency (Hz)"
        y, rows = hs.synthetic_pcg(seconds=3.0)
        assert y.shape == (6000,) and rows[1][2] == 1
        st = hs.Stream(2000)
        assert st.push(y) == [] and {e.sound for e in st.flush()} == {"S1", "S2"}
        assert hasattr(hs.metrics, "score_against_rows") and "circor2022" in hs.datasets.NAMES
        for err in (hs.AudioError, hs.ModelError, hs.ParameterError):
            assert issubclass(err, hs.HeartsoundError)
        try:
            hs.load(ex.with_suffix(".missing.wav"))
        except hs.AudioError:
            pass
        else:
            raise AssertionError("no AudioError")
        assert isinstance(hs.__version__, str)

    every_name()
    every_name()
    for m in pkgutil.walk_packages(hs.__path__, "heartsound."):
        if not m.name.startswith(("heartsound.training", "heartsound.cli.train",
                                  "heartsound.__main__")):
            importlib.import_module(m.name)
    every_name()
    assert callable(hs.analyze) and callable(hs.segment) and callable(hs.plot)
    assert "matplotlib.pyplot" not in sys.modules  # figures without pyplot state
    print("ok")
''')


def _readme_snippet(recording: Path, png: Path) -> str:
    m = re.search(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert m, "README has no ```python block"
    return m.group(1).replace("recording.wav", str(recording)).replace("recording.png",
                                                                        str(png))


@pytest.mark.slow
def test_readme_snippet_and_every_name_twice(tmp_path):
    """In a fresh process: the README snippet twice, then every top-level name twice,
    then again after importing every submodule (names must stay the functions)."""
    from heartsound.example import example_path

    snippet = _readme_snippet(example_path(), tmp_path / "fig.png")
    code = f"{snippet}\n{snippet}\n{_CALLS}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=_ENV)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
    assert (tmp_path / "fig.png").read_bytes().startswith(b"\x89PNG")


def test_import_is_cheap():
    """``import heartsound`` loads no numpy, scipy, matplotlib or onnxruntime."""
    code = ("import sys, heartsound; print(sorted(m for m in ('numpy', 'scipy', "
            "'matplotlib', 'onnxruntime', 'soundfile') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=_ENV)
    assert out.stdout.strip() == "[]"
