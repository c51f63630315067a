"""heartsound's vocabulary: the names, codes, rates and bands every stage shares.

Every other module imports these instead of restating them. Nothing here computes
anything; changing a value here changes it everywhere (and changes results: the shipped
models were trained with these values, see their model cards).

States
    The four cardiac states use the CirCor DigiScope codes (1 S1, 2 systole, 3 S2,
    4 diastole; 0 where a recording is unannotated or undefined).
Rates
    :data:`PREPROCESS_SR` is the rate of Springer et al.'s pre-processing and envelopes,
    :data:`FRAME_RATE` the rate of every envelope, emission and state sequence of the
    HSMM segmenters, :data:`ANALYSIS_SR` the rate of the classifiers' log-Mel front end
    and of the quality measures' band powers.
Bands
    :data:`SPRINGER_BANDS_HZ` are the sub-band envelopes of the extended Springer
    features, :data:`NEURAL_BANDS_HZ` the log band energies of the neural segmenter's
    input; they are different sets on purpose (each matches its shipped model).
"""

from __future__ import annotations

__all__ = [
    "STATES", "STATE_CODES", "STATE_NAMES", "UNANNOTATED", "S1", "SYSTOLE", "S2", "DIASTOLE",
    "SOUNDS", "SOUND_CODES", "N_STATES", "FRAME_RATE", "PREPROCESS_SR", "ANALYSIS_SR",
    "MIN_SR", "MIN_DURATION_S", "PASS_BAND_HZ", "SPRINGER_BANDS_HZ", "NEURAL_BANDS_HZ",
]

#: CirCor state codes.
UNANNOTATED, S1, SYSTOLE, S2, DIASTOLE = 0, 1, 2, 3, 4
#: The four cardiac states, in cycle order (the order of every per-state column).
STATES: tuple[str, ...] = ("S1", "systole", "S2", "diastole")
#: Number of cardiac states.
N_STATES = len(STATES)
#: State name -> CirCor code.
STATE_CODES: dict[str, int] = {name: code for code, name in enumerate(STATES, start=1)}
#: CirCor code -> state name, with 0 for unannotated frames.
STATE_NAMES: dict[int, str] = {UNANNOTATED: "unannotated",
                               **{code: name for name, code in STATE_CODES.items()}}
#: The heart sounds (the states an event is made of).
SOUNDS: tuple[str, ...] = ("S1", "S2")
#: Sound name -> CirCor state code.
SOUND_CODES: dict[str, int] = {"S1": S1, "S2": S2}

#: Frame rate (Hz) of every envelope, emission and state sequence of the segmenters.
FRAME_RATE = 50.0
#: Rate (Hz) of the pre-processed signal and the Springer envelopes before framing.
PREPROCESS_SR = 1000
#: Rate (Hz) of the classifiers' log-Mel front end and of the quality band powers.
ANALYSIS_SR = 2000
#: Lowest input sample rate accepted (Hz).
MIN_SR = 500
#: Shortest recording accepted (s).
MIN_DURATION_S = 1.0
#: Pass band (Hz) of the pre-processing band-pass filter (Springer et al. 2016).
PASS_BAND_HZ: tuple[float, float] = (25.0, 400.0)

#: Sub-bands (Hz) of the extended Springer features' band envelopes.
SPRINGER_BANDS_HZ: tuple[tuple[float, float], ...] = (
    (25.0, 60.0), (60.0, 120.0), (120.0, 250.0), (250.0, 400.0))
#: Bands (Hz) of the neural segmenter's log band energies. S1 carries relatively more
#: energy below ~100 Hz and S2 more above; the envelopes alone are broadband.
NEURAL_BANDS_HZ: tuple[tuple[float, float], ...] = (
    (25.0, 45.0), (45.0, 80.0), (80.0, 140.0), (140.0, 250.0), (250.0, 400.0))
