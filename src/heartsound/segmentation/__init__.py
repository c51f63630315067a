"""Heart-sound segmentation: S1, systole, S2 and diastole of every frame.

:func:`segment` chooses a method by name through :data:`METHODS`:

``"springer2016"``
    Logistic-regression HSMM (Springer, Tarassenko & Clifford, IEEE TBME 63(4), 2016),
    :mod:`heartsound.segmentation.springer`, with the shipped model
    ``heartsound/models/springer2016.json``.
``"neural"``
    Neural network emissions decoded by the same HSMM, after Renna, Oliveira & Coimbra
    (IEEE JBHI 23(6), 2019), :mod:`heartsound.segmentation.neural`.

Every method follows one contract (:class:`Segmenter`): ``METHODS[name](**options)``
gives an object whose ``segment(y, sr, *, frontend=None)`` returns a
:class:`~heartsound.segmentation.result.Segmentation` at 50 frames per second; both
decode their competing heart rates with
:func:`~heartsound.segmentation.heart_rate.decode_candidates`. The building blocks are
public for methods that reuse them: :mod:`heartsound.features` (envelopes),
:mod:`.heart_rate` (heart rate and systolic interval) and :mod:`.hsmm` (duration model
and extended Viterbi decoder).

Both methods end with :func:`heartsound.segmentation.presence.apply`: decoded sounds the
signal does not support (no louder than their surroundings: noise, hum, tones, DC,
silence, a noise tail) are removed and their frames get state 0; a recording left with
too few is reported with no events, heart rate None and the reason in
``Segmentation.presence``.

No model is read and nothing heavy imported until :func:`segment` is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..errors import ParameterError
from ..frontend import Frontend, as_frontend
from . import neural, springer
from .result import Event, Segmentation

__all__ = ["METHODS", "DEFAULT_METHOD", "Segmenter", "segment", "get_method",
           "Segmentation", "Event"]


class Segmenter(Protocol):
    """What every segmentation method provides."""

    method: str

    def segment(self, y: Any, sr: float, *, frontend: Frontend | None = None
                ) -> Segmentation:
        """States of one recording (``frontend``: its shared front end)."""
        ...


#: Method name -> factory ``(**options) -> Segmenter`` (options: ``model=``, and for
#: ``"neural"`` ``model_path=``, ``n_threads=``).
METHODS: dict[str, Callable[..., Segmenter]] = {
    springer.METHOD: springer.make_segmenter,
    "neural": neural.make_segmenter,
}
#: Method used when none is named.
DEFAULT_METHOD = "neural"


def get_method(method: str, **options: Any) -> Segmenter:
    """A segmenter of ``method``, built with ``options``.

    Raises
    ------
    ParameterError
        Unknown name (the message lists the valid ones).
    ModelError
        The method's model file is missing or corrupt (when the factory reads it).
    """
    if method not in METHODS:
        raise ParameterError(f"unknown segmentation method {method!r}; "
                             f"valid: {', '.join(sorted(METHODS))}")
    return METHODS[method](**options)


def segment(y: Any, sr: float, *, method: str = DEFAULT_METHOD,
            frontend: Frontend | None = None, source: str | None = None, **options: Any) -> Segmentation:
    """Segment a heart-sound recording into S1, systole, S2 and diastole.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n, channels)]
        Samples (multi-channel input is mixed down). Use :func:`heartsound.load` for files.
    sr : float
        Sample rate in Hz (at least 500).
    method : str
        ``"springer2016"`` or ``"neural"`` (see :data:`METHODS`).
    frontend : heartsound.frontend.Frontend, optional
        The recording's front end, when other stages share it (it is trusted, not
        validated again).
    source : str, optional
        Name of the recording in error messages.
    **options
        Passed to the method's factory (e.g. ``model=`` a fitted segmenter).

    Returns
    -------
    Segmentation
        States at 50 frames per second, heart rate and systolic interval.

    Raises
    ------
    ParameterError
        Unknown method.
    AudioError
        Invalid samples or rate (see :func:`heartsound.io.validate_audio`).

    Examples
    --------
    >>> rec = heartsound.load("9979_AV.flac")  # doctest: +SKIP
    >>> seg = segment(rec.y, rec.sr, method="springer2016")  # doctest: +SKIP
    >>> seg.intervals()["heart_rate_bpm"]  # doctest: +SKIP
    """
    seg = get_method(method, **options)
    fe = as_frontend(y, sr, frontend, source=source)
    out = seg.segment(fe.y, fe.sr, frontend=fe)
    out.sr = fe.sr if out.sr is None else out.sr  # sample indices of the events
    return out
