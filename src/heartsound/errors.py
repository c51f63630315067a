"""The one error root of heartsound and its precise subclasses.

Every error a user can provoke with bad input is a :class:`HeartsoundError`; the CLI
catches exactly this root and prints its message (never a traceback).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "HeartsoundError",
    "AudioError",
    "AudioFileNotFoundError",
    "NotAudioError",
    "EmptyAudioError",
    "TooShortError",
    "SilentAudioError",
    "NonFiniteAudioError",
    "SampleRateError",
    "DatasetError",
    "ModelError",
    "ParameterError",
    "OutputError",
]


class HeartsoundError(Exception):
    """Root of all heartsound errors."""


class ParameterError(HeartsoundError, ValueError):
    """An argument has an invalid value (unknown method name, bad option...)."""


class AudioError(HeartsoundError):
    """A recording cannot be analysed. ``source`` names the file (or ``<array>``)."""

    problem = "cannot be analysed"

    def __init__(self, source: str | Path | None, detail: str | None = None) -> None:
        self.source = str(source) if source is not None else "<array>"
        self.detail = detail
        msg = f"{self.source}: {self.problem}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    problem = "file not found"


class NotAudioError(AudioError):
    problem = "not a readable audio file"


class EmptyAudioError(AudioError):
    problem = "contains no samples"


class TooShortError(AudioError):
    problem = "too short to hold a cardiac cycle"


class SilentAudioError(AudioError):
    problem = "all samples are zero (silent recording)"


class NonFiniteAudioError(AudioError):
    problem = "contains NaN or infinite samples"


class SampleRateError(AudioError):
    problem = "unsupported sample rate"


class DatasetError(HeartsoundError):
    """A corpus folder does not have the expected layout or content."""


class ModelError(HeartsoundError):
    """A model file is missing, corrupt, or does not match its card."""


class OutputError(HeartsoundError):
    """An output cannot be written, or would replace a file heartsound did not write."""
