"""Loading recordings: formats, rates, channels, WFDB headers and every kind of bad input."""

from __future__ import annotations

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


def test_stereo_is_mixed_down_with_warning(tmp_path):
    sr = 4000
    y = np.stack([_tone(sr, 2.0), _tone(sr, 2.0) * 0.0 + 0.25], axis=1)
    sf.write(tmp_path / "st.wav", y, sr)
    with pytest.warns(UserWarning, match="2 channels mixed down"):
        rec = load(tmp_path / "st.wav")
    assert rec.meta["channels"] == 2
    np.testing.assert_allclose(rec.y, y.mean(axis=1), atol=1e-4)


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
