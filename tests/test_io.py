"""Loading recordings: formats, rates, channels, WFDB headers and every kind of bad input."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import soundfile as sf

from heartsound import errors, load
from heartsound.io import resample, validate_audio


def _tone(sr: int, seconds: float, f: float = 50.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return 0.5 * np.sin(2 * np.pi * f * t)


@pytest.mark.parametrize("fmt,subtype,ext", [
    ("WAV", "PCM_16", "wav"), ("WAV", "PCM_24", "wav"), ("WAV", "FLOAT", "wav"),
    ("FLAC", "PCM_16", "flac"), ("OGG", "VORBIS", "ogg"), ("AIFF", "PCM_16", "aiff"),
])
@pytest.mark.parametrize("sr", [2000, 4000, 44100])
def test_load_formats_and_rates(tmp_path, fmt, subtype, ext, sr):
    y = _tone(sr, 2.0)
    path = tmp_path / f"x.{ext}"
    sf.write(path, y, sr, format=fmt, subtype=subtype)
    rec = load(path)
    assert rec.sr == sr
    assert rec.y.dtype == np.float64 and rec.y.ndim == 1
    assert abs(len(rec.y) - len(y)) <= sr * 0.05  # OGG may pad a little
    assert rec.meta["format"] == fmt and rec.meta["channels"] == 1
    # the signal survives: correlation with the original is high
    n = min(len(y), len(rec.y))
    if fmt != "OGG":
        assert np.corrcoef(y[:n], rec.y[:n])[0, 1] > 0.999


def test_resample_to_analysis_rate_keeps_tone(tmp_path):
    sr = 44100
    sf.write(tmp_path / "t.wav", _tone(sr, 2.0, f=100.0), sr)
    rec = load(tmp_path / "t.wav", sr=1000)
    assert rec.sr == 1000 and len(rec.y) == 2000
    spec = np.abs(np.fft.rfft(rec.y))
    assert np.argmax(spec) * 1000 / len(rec.y) == pytest.approx(100.0, abs=1.0)
    assert rec.meta["original_sr"] == sr


def test_resample_odd_ratio_length():
    y = np.random.default_rng(0).standard_normal(44100)
    assert len(resample(y, 44100, 2000)) == 2000
    assert len(resample(y, 3000, 2000)) == 29400


def test_stereo_is_mixed_down_with_a_note_not_a_warning(tmp_path):
    sr = 4000
    y = np.stack([_tone(sr, 2.0), _tone(sr, 2.0) * 0.0 + 0.25], axis=1)
    sf.write(tmp_path / "st.wav", y, sr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = load(tmp_path / "st.wav")
    assert rec.meta["channels"] == 2
    assert rec.notes == {"mixed_down": "2 channels mixed down to mono (averaged)"}
    np.testing.assert_allclose(rec.y, y.mean(axis=1), atol=1e-4)


@pytest.mark.parametrize("gain", [-1.0, -0.95])
def test_channels_that_cancel_use_the_loudest_channel(tmp_path, gain):
    sr = 4000
    left = _tone(sr, 2.0)
    sf.write(tmp_path / "pol.wav", np.stack([gain * left, left], axis=1), sr)
    rec = load(tmp_path / "pol.wav")
    assert set(rec.notes) == {"channels_cancel"}
    assert "channel 2 of 2 analysed alone" in rec.notes["channels_cancel"] or gain == -1.0
    np.testing.assert_allclose(np.abs(rec.y), np.abs(left), atol=1e-4)  # not the silent mix


def test_array_mix_down_warns_without_notes_and_notes_with_them():
    y = np.stack([_tone(2000, 2.0), _tone(2000, 2.0)])
    with pytest.warns(UserWarning, match="2 channels mixed down"):
        validate_audio(y, 2000)
    notes: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_audio(y, 2000, notes=notes)
    assert set(notes) == {"mixed_down"}


def _truncate(path, keep: float) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[:int(len(raw) * keep)])


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("AIFF", "aiff"), ("FLAC", "flac")])
def test_truncated_file_is_read_with_a_note(tmp_path, fmt, ext):
    sr = 2000
    y = _tone(sr, 10.0)
    p = tmp_path / f"cut.{ext}"
    sf.write(p, y, sr, format=fmt)
    _truncate(p, 0.5)
    rec = load(p)
    assert "truncated" in rec.notes, rec.notes
    assert 1.0 <= rec.duration_s < 6.0
    n = len(rec.y)
    np.testing.assert_allclose(rec.y, y[:n], atol=1e-3)  # what is there is the recording


def test_complete_and_streamed_wav_are_not_truncated(tmp_path):
    import struct

    p = tmp_path / "ok.wav"
    sf.write(p, _tone(2000, 3.0), 2000)
    assert load(p).notes == {}
    raw = bytearray(p.read_bytes())  # a streamed WAV: data size "unknown" (0xFFFFFFFF)
    i = raw.find(b"data")
    raw[i + 4:i + 8] = struct.pack("<I", 0xFFFFFFFF)
    p.write_bytes(bytes(raw))
    rec = load(p)
    assert rec.notes == {} and rec.duration_s == pytest.approx(3.0)


@pytest.mark.parametrize("sr,segmenters", [(500, True), (700, True), (1000, False),
                                           (1999, False), (2000, None)])
def test_low_sample_rate_note(tmp_path, sr, segmenters):
    p = tmp_path / "low.wav"
    sf.write(p, _tone(sr, 3.0, f=20.0), sr)
    note = load(p).notes.get("low_sample_rate")
    if segmenters is None:
        assert note is None
        return
    assert f"nothing above {sr / 2:g} Hz" in note
    assert ("segmenters" in note) == segmenters


def test_beyond_full_scale_note(tmp_path):
    p = tmp_path / "loud.wav"
    y = 3.0 * _tone(2000, 2.0)  # peak 1.5
    sf.write(p, y, 2000, subtype="FLOAT")
    rec = load(p)
    assert "peak |y| = 1.5" in rec.notes["beyond_full_scale"]
    np.testing.assert_allclose(rec.y, y, atol=1e-6)  # analysed as is, not rescaled


def test_unreadable_wfdb_header_is_a_note(tmp_path):
    p = tmp_path / "r.wav"
    sf.write(p, _tone(2000, 2.0), 2000)
    (tmp_path / "r.hea").write_text("r 1 notanumber\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = load(p)
    assert "r.hea could not be read" in rec.notes["wfdb_header"]


def test_permission_denied_is_a_clean_error(tmp_path, monkeypatch):
    import heartsound.io as hio

    p = tmp_path / "locked.wav"
    sf.write(p, _tone(2000, 2.0), 2000)

    def denied(*_a, **_k):
        raise PermissionError(13, "Permission denied", str(p))

    monkeypatch.setattr(hio, "open", denied, raising=False)
    with pytest.raises(errors.NotAudioError, match="locked.wav.*Permission denied"):
        load(p)


def test_fifo_is_not_read(tmp_path):
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    p = tmp_path / "pipe.wav"
    os.mkfifo(p)
    with pytest.raises(errors.NotAudioError, match="not a regular file"):
        load(p)  # would block forever if opened


def test_non_utf8_file_name(tmp_path):
    import os

    if os.name != "posix" or sys.platform == "darwin":
        pytest.skip("file names are bytes only on Linux")
    name = os.fsdecode(b"rec\xff\xfe.wav")
    sf.write(os.path.join(tmp_path, "plain.wav"), _tone(2000, 2.0), 2000)
    os.rename(tmp_path / "plain.wav", tmp_path / name)
    rec = load(tmp_path / name)
    assert rec.duration_s == pytest.approx(2.0) and rec.source.endswith(name)


def test_wfdb_header_is_read(circor_root):
    rec = load(circor_root / "recordings" / "9979_AV.flac")
    assert rec.meta["wfdb"]["fs"] == 2000
    assert rec.meta["wfdb"]["n_samples"] == len(rec.y)


def test_clipping_counted(tmp_path):
    y = np.clip(4.0 * _tone(2000, 2.0), -1, 1)  # amplitude 2: two thirds clipped
    sf.write(tmp_path / "c.wav", y, 2000, subtype="PCM_16")
    rec = load(tmp_path / "c.wav")
    assert rec.meta["n_clipped"] > 0.3 * len(y)


# --- bad input -----------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(errors.AudioFileNotFoundError, match="nope.wav: file not found"):
        load(tmp_path / "nope.wav")


def test_not_audio(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("this is not audio")
    with pytest.raises(errors.NotAudioError, match="notes.wav"):
        load(p)


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(errors.EmptyAudioError, match="empty.wav"):
        load(p)


def test_header_only_wav(tmp_path):
    p = tmp_path / "hdr.wav"
    sf.write(p, np.zeros(0), 2000)
    with pytest.raises(errors.EmptyAudioError, match="hdr.wav: contains no samples"):
        load(p)


def test_too_short(tmp_path):
    p = tmp_path / "short.wav"
    sf.write(p, _tone(2000, 0.5), 2000)
    with pytest.raises(errors.TooShortError, match=r"short.wav: too short.*0\.50 s"):
        load(p)


def test_silent(tmp_path):
    p = tmp_path / "silent.flac"
    sf.write(p, np.zeros(4000), 2000)
    with pytest.raises(errors.SilentAudioError, match="silent.flac"):
        load(p)


def test_nan_samples(tmp_path):
    y = _tone(2000, 2.0)
    y[100:110] = np.nan
    p = tmp_path / "nan.wav"
    sf.write(p, y, 2000, subtype="FLOAT")
    with pytest.raises(errors.NonFiniteAudioError, match="nan.wav.*10 of 4000"):
        load(p)


def test_low_sample_rate(tmp_path):
    p = tmp_path / "low.wav"
    sf.write(p, _tone(400, 3.0, f=20.0), 400)
    with pytest.raises(errors.SampleRateError, match="low.wav.*400 Hz"):
        load(p)


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(errors.NotAudioError, match="directory"):
        load(tmp_path)


def test_errors_share_one_root():
    for cls in (errors.AudioFileNotFoundError, errors.NotAudioError, errors.EmptyAudioError,
                errors.TooShortError, errors.SilentAudioError, errors.NonFiniteAudioError,
                errors.SampleRateError, errors.DatasetError, errors.ModelError,
                errors.ParameterError):
        assert issubclass(cls, errors.HeartsoundError)


def test_validate_audio_arrays():
    with pytest.raises(errors.SampleRateError):
        validate_audio(np.ones(10), None)
    with pytest.raises(errors.NonFiniteAudioError, match="<array>"):
        validate_audio(np.array([np.inf] * 3000), 2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = validate_audio(np.ones((2, 3000)), 2000)  # (channels, n) layout
    assert out.shape == (3000,)
