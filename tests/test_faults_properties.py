"""The fault suite, property-based: generated file names and signals (hypothesis).

File names: unicode, spaces, leading dashes (given after ``--``), control characters and,
on Linux, bytes that are not UTF-8: a good file is read and named back, a bad one gives
one escaped error line. Signals: random lengths, rates, amplitudes (1e-30 to 1e30), DC,
zeros, stereo with cancelling channels, NaN and infinities: :func:`heartsound.load` and
:func:`heartsound.analyze` raise nothing but :class:`~heartsound.errors.HeartsoundError`
and their JSON is strict.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

if os.environ.get("CI", "").lower() == "true":
    import hypothesis  # noqa: F401 - in CI a missing test dependency fails
else:
    pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_faults import LINUX, _good, _run  # noqa: E402

import heartsound  # noqa: E402
import heartsound.io as hio  # noqa: E402
from heartsound.errors import HeartsoundError  # noqa: E402
from heartsound.serialize import display_text  # noqa: E402


# --- file names ---------------------------------------------------------------------------

_NAME_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0")


def _fs_name(stem: str) -> str | None:
    name = f"{stem}.wav"
    return name if len(os.fsencode(name)) <= 250 and name not in (".wav",) else None


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stem=st.text(_NAME_CHARS, min_size=1, max_size=24)
       | st.sampled_from(["-rec", "--out", " spaced name ", "-", "ü ñ 心音", "a\nb", "*?"]))
def test_any_file_name_works(stem, tmp_path_factory, capsys):
    """A good file under any name the OS allows is read and named back (``--`` before
    names that start with a dash); a bad one gives one error line naming it."""
    name = _fs_name(stem)
    if name is None:
        return
    d = tmp_path_factory.mktemp("names")
    target = _good(d / name, 2.0)
    rc, stdout, err = _run(capsys, "info", [str(target)])
    assert rc == 0 and err == "", err
    assert display_text(target, one_line=False) in stdout
    target.write_text("not audio")
    rc, stdout, err = _run(capsys, "info", [str(target)])
    assert rc == 2 and stdout == ""
    (line,) = err.splitlines()
    assert line.startswith(f"heartsound: error: {display_text(target)}: ")


@pytest.mark.skipif(not LINUX, reason="file names are arbitrary bytes only on Linux")
@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(min_size=1, max_size=16).filter(lambda b: b"/" not in b
                                                     and b"\0" not in b))
def test_non_utf8_file_names_analysed(raw, tmp_path_factory, capsys):
    d = tmp_path_factory.mktemp("bytes")
    path = Path(os.fsdecode(os.path.join(os.fsencode(d), b"r" + raw + b".wav")))
    _good(path, 2.0)
    out = d / "out"
    rc, stdout, err = _run(capsys, "analyze", [str(path)], out)
    assert rc == 0 and err == "", err
    assert display_text(path, one_line=False) in stdout
    (j,) = [p for p in out.iterdir() if p.name.endswith(".heartsound.json")]
    assert os.fsencode(j.name) == b"r" + raw + b".heartsound.json"
    assert json.loads(j.read_text())["source"] == str(path)


# --- generated signals --------------------------------------------------------------------

_AMPS = st.one_of(st.floats(1e-30, 1e30), st.sampled_from([0.0, 1.0, 3.0, np.nan, np.inf]))


@st.composite
def signals(draw):
    """(y [shape=(n,) or (n, channels)], sr, kind): noise, a tone, DC or zeros at a random
    rate and amplitude, sometimes stereo, sometimes with NaN or inf samples."""
    sr = draw(st.one_of(st.integers(1, 50_000), st.sampled_from([499, 500, 750, 2000])))
    n = draw(st.integers(0, min(6 * sr, 40_000)))
    kind = draw(st.sampled_from(["noise", "tone", "dc", "zeros"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    t = np.arange(n) / sr
    with np.errstate(invalid="ignore"):  # 0 * inf
        y = {"noise": rng.standard_normal(n), "tone": np.sin(2 * np.pi * 37 * t),
             "dc": np.ones(n), "zeros": np.zeros(n)}[kind] * draw(_AMPS)
    if n and draw(st.booleans()):
        y[draw(st.integers(0, n - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    if draw(st.booleans()):
        y = np.stack([y, draw(st.sampled_from([1.0, -1.0, 0.5])) * y], axis=1)
    return y, sr


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sig=signals())
def test_load_raises_only_heartsound_errors(sig, tmp_path_factory):
    y, sr = sig
    p = tmp_path_factory.mktemp("sig") / "s.wav"
    with np.errstate(all="ignore"):
        sf.write(p, y.astype(np.float32), sr, subtype="FLOAT")
    try:
        rec = heartsound.load(p)
    except HeartsoundError:
        return
    assert rec.y.ndim == 1 and np.all(np.isfinite(rec.y)) and np.any(rec.y)
    assert set(rec.notes) <= set(hio.NOTE_CODES)


@settings(max_examples=30, deadline=None)
@given(sig=signals())
def test_analyze_raises_only_heartsound_errors(sig):
    y, sr = sig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow on 1e30: not the point
        try:
            a = heartsound.analyze(y, sr=sr, method="springer2016", tasks=("abnormal",))
        except HeartsoundError:
            return
    d = a.to_dict()
    json.dumps(d, allow_nan=False)  # strict JSON whatever the input
    assert set(d["quality"]["notes"]) <= set(hio.NOTE_CODES)
