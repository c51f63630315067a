"""Where each segmented heart sound is loudest.

A segmenter decodes each S1 and S2 as a stretch ``[onset_s, offset_s)``; its centre is
what CirCor's state annotations define as the sound's position. Other corpora mark a
sound at its peak instead: PASCAL 2011 set A's ``Atraining_normal_seg.csv`` marks roughly
the maximum of each sound (``../shared/data/pascal2011/README.md``), and on CirCor the
annotated segment centres lie a median 22 ms after the envelope peak
(``docs/results/segmentation.md``). :func:`sound_peaks` gives the peak instant of every
decoded sound so that a segmentation can be scored under either convention, with no
change to the segmentation itself.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..features import hilbert_envelope
from ..io import resample
from ..preprocess import bandpass
from ..vocab import PASS_BAND_HZ, PREPROCESS_SR
from .result import Event

__all__ = ["PEAK_SR", "sound_peaks"]

#: Rate (Hz) of the envelope the peak is read from (1 ms resolution).
PEAK_SR = PREPROCESS_SR


def sound_peaks(events: Sequence[Event], y: Any, sr: float) -> list[Event]:
    """Each sound reduced to the instant of its envelope maximum.

    The recording is resampled to 1 kHz, band-passed to 25-400 Hz (zero phase, the
    Springer pre-processing band) and its Hilbert envelope taken; within each event's
    ``[onset_s, offset_s]`` the time of the envelope maximum is the peak.

    Parameters
    ----------
    events : sequence of Event
        Decoded sounds, e.g. ``Segmentation.events()``.
    y : np.ndarray [shape=(n,)]
        The audio that was segmented.
    sr : float
        Its sample rate in Hz.

    Returns
    -------
    list of Event
        One zero-length ``Event(sound, peak_s, peak_s)`` per input event, in the same
        order, so that ``centre_s`` is the peak time. An event with no samples inside
        the recording keeps its centre.
    """
    x = resample(np.asarray(y, dtype=np.float64), int(round(sr)), PEAK_SR)
    env = hilbert_envelope(bandpass(x, PEAK_SR, low_hz=PASS_BAND_HZ[0],
                                    high_hz=PASS_BAND_HZ[1]))
    out = []
    for e in events:
        a = max(0, int(np.floor(e.onset_s * PEAK_SR)))
        b = min(env.size, int(np.ceil(e.offset_s * PEAK_SR)) + 1)
        t = (a + int(np.argmax(env[a:b]))) / PEAK_SR if b > a else e.centre_s
        out.append(Event(e.sound, t, t))
    return out
