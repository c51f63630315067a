"""Live (streaming) heart-sound segmentation, heart rate and signal quality.

:class:`Stream` takes audio in chunks of any size and emits each S1 and S2 once it is
final, a bounded time after the sound ends; memory does not grow with the stream's
length. Modules: :mod:`.frontend` (stateful features: filters with carried state,
running normalisation; pieces in :mod:`.filtering`), :mod:`.emissions` (the offline method's model), :mod:`.decoder`
(fixed-lag decoding of the offline HSMM), :mod:`.stream` (the public class).
"""

from __future__ import annotations

from .stream import (
    DEFAULT_HOP_S,
    DEFAULT_LAG_S,
    DEFAULT_LOOKAHEAD_S,
    DEFAULTS,
    HeartRate,
    Stream,
    StreamEvent,
    StreamQuality,
)

__all__ = ["DEFAULTS", "DEFAULT_HOP_S", "DEFAULT_LAG_S", "DEFAULT_LOOKAHEAD_S", "HeartRate",
           "Stream", "StreamEvent", "StreamQuality"]
