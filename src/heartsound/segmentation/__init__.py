"""Heart-sound segmentation: S1, systole, S2 and diastole of every frame.

:func:`segment` chooses a method by name through :data:`METHODS`:

``"springer2016"``
    Logistic-regression HSMM (Springer, Tarassenko & Clifford 2016),
    :mod:`heartsound.segmentation.springer`, with the shipped model
    ``heartsound/models/springer2016.json``.
``"neural"``
    Neural network emissions decoded by the same HSMM,
    :mod:`heartsound.segmentation.neural`.

Both return a :class:`~heartsound.segmentation.result.Segmentation` at 50 frames per
second. The building blocks are public for methods that reuse them:
:mod:`heartsound.features` (envelopes), :mod:`.heart_rate` (heart rate and systolic
interval) and :mod:`.hsmm` (duration model and extended Viterbi decoder).

Nothing heavy is imported until :func:`segment` is called.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ParameterError
from .result import Event, Segmentation

__all__ = ["METHODS", "DEFAULT_METHOD", "segment", "get_method", "Segmentation", "Event"]

#: Method name -> module implementing ``segment(y, sr, **kwargs) -> Segmentation``.
METHODS: dict[str, str] = {
    "springer2016": "heartsound.segmentation.springer",
    "neural": "heartsound.segmentation.neural",
}
DEFAULT_METHOD = "neural"


def get_method(method: str) -> Any:
    """The module implementing ``method``.

    Raises
    ------
    ParameterError
        Unknown name (the message lists the valid ones), or the method's module is not
        available in this installation.
    """
    if method not in METHODS:
        raise ParameterError(f"unknown segmentation method {method!r}; "
                             f"valid: {', '.join(sorted(METHODS))}")
    try:
        return importlib.import_module(METHODS[method])
    except ModuleNotFoundError as exc:
        if exc.name != METHODS[method]:
            raise
        raise ParameterError(f"segmentation method {method!r} is not available in this "
                             f"installation ({exc.name} missing)") from None


def segment(y: Any, sr: float, *, method: str = DEFAULT_METHOD, **kwargs: Any) -> Segmentation:
    """Segment a heart-sound recording into S1, systole, S2 and diastole.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n, channels)]
        Samples (multi-channel input is mixed down). Use :func:`heartsound.load` for files.
    sr : float
        Sample rate in Hz (at least 500).
    method : str
        ``"springer2016"`` or ``"neural"`` (see :data:`METHODS`).
    **kwargs
        Passed to the method's ``segment`` (e.g. ``model=`` a fitted segmenter).

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
    from ..io import validate_audio

    mod = get_method(method)
    y = validate_audio(y, sr)
    seg = mod.segment(y, sr, **kwargs)
    seg.sr = sr if seg.sr is None else seg.sr  # sample indices of the events
    return seg
