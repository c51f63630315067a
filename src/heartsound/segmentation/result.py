"""The segmentation result contract that every consumer (CLI, JSON, TSV, plots) reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..serialize import to_jsonable, tsv_text, write_atomic
from ..vocab import S1, S2, STATE_NAMES

__all__ = ["STATE_NAMES", "Event", "Segmentation", "states_to_rows", "rows_to_states"]


def _sample(t_s: float, sr: float | None) -> int | None:
    return None if sr is None else int(round(t_s * sr))


@dataclass(frozen=True)
class Event:
    """One heart sound.

    Attributes
    ----------
    sound : str
        ``"S1"`` or ``"S2"``.
    onset_s, offset_s : float
        Times in seconds from the start of the recording.
    sr : float or None
        Sample rate of the recording in Hz, when known; gives :attr:`onset` and
        :attr:`offset` as sample indices.
    """

    sound: str
    onset_s: float
    offset_s: float
    sr: float | None = None

    @property
    def centre_s(self) -> float:
        return 0.5 * (self.onset_s + self.offset_s)

    @property
    def onset(self) -> int | None:
        """Onset as a sample index at :attr:`sr` (None without ``sr``)."""
        return _sample(self.onset_s, self.sr)

    @property
    def offset(self) -> int | None:
        """Offset (exclusive) as a sample index at :attr:`sr` (None without ``sr``)."""
        return _sample(self.offset_s, self.sr)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"sound": self.sound, "onset_s": self.onset_s,
                             "offset_s": self.offset_s}
        if self.sr is not None:
            d["onset"], d["offset"] = self.onset, self.offset
        return to_jsonable(d)


def states_to_rows(states: np.ndarray, frame_rate: float) -> list[tuple[float, float, int]]:
    """Run-length encode a per-frame state sequence into ``(start_s, end_s, state)`` rows."""
    s = np.asarray(states).astype(int)
    if s.size == 0:
        return []
    change = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [s.size]])
    return list(zip((starts / frame_rate).tolist(), (ends / frame_rate).tolist(),
                    s[starts].tolist()))


def rows_to_states(rows: Any, frame_rate: float, n_frames: int) -> np.ndarray:
    """Inverse of :func:`states_to_rows`: frame ``k`` (time ``k / frame_rate``) gets the state
    of the row containing its time; frames outside every row get 0."""
    out = np.zeros(n_frames, dtype=np.int8)
    t = np.arange(n_frames) / frame_rate
    for start, end, state in rows:
        out[(t >= start) & (t < end)] = int(state)
    return out


@dataclass
class Segmentation:
    """A four-state segmentation of one recording.

    Attributes
    ----------
    states : np.ndarray [shape=(n_frames,), dtype=int8]
        State per frame: 1 S1, 2 systole, 3 S2, 4 diastole (0 where undefined).
    frame_rate : float
        Frames per second of ``states`` (50 Hz for the HSMM methods).
    method : str
        Name of the method that produced it (``"springer2016"``, ``"neural"``).
    heart_rate_bpm, systolic_interval_s : float
        The prior estimates the duration model used (autocorrelation of the envelope).
        The heart rate heartsound reports is :attr:`median_heart_rate_bpm`, from the
        decoded cycles; ``to_dict()`` writes it as ``heart_rate_bpm`` and this prior as
        ``prior_heart_rate_bpm``.
    posteriors : np.ndarray [shape=(n_frames, 4)], optional
        Per-frame state probabilities the decoder consumed.
    info : dict
        Method-specific details (e.g. the candidate heart rates tried).
    presence : dict or None
        Whether heart sounds were found, by :func:`heartsound.segmentation.presence.apply`
        (``heart_sounds``, ``present_share``, ``reason`` ...); None when not checked.
        Frames without supported heart sounds have state 0.
    decoded_states : np.ndarray [shape=(n_frames,), dtype=int8] or None
        The decoder's path before the presence check (every frame 1-4), what the
        classifiers' phase channels were trained on; None when not checked.
    sr : float or None
        Sample rate in Hz of the recording that was segmented (set by
        :func:`heartsound.segment` and :func:`heartsound.analyze`); gives the events'
        sample indices.
    """

    states: np.ndarray
    frame_rate: float
    method: str
    heart_rate_bpm: float
    systolic_interval_s: float
    posteriors: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    sr: float | None = None
    presence: dict[str, Any] | None = None
    decoded_states: np.ndarray | None = None

    @property
    def heart_sounds(self) -> bool:
        """False when the presence check found no heart sounds in the recording."""
        return self.presence is None or bool(self.presence.get("heart_sounds", True))

    @property
    def duration_s(self) -> float:
        return len(self.states) / self.frame_rate

    def rows(self) -> list[tuple[float, float, int]]:
        """CirCor-style ``(start_s, end_s, state)`` rows."""
        return states_to_rows(self.states, self.frame_rate)

    def events(self) -> list[Event]:
        """Every S1 and S2 as an :class:`Event`, in time order. Sounds cut by the recording's
        edges are included with the edge as onset or offset."""
        return [Event(STATE_NAMES[st], a, b, self.sr) for a, b, st in self.rows()
                if st in (S1, S2)]

    def cycles(self) -> list[tuple[float, float, float]]:
        """Complete cardiac cycles as ``(s1_onset_s, s2_onset_s, next_s1_onset_s)``: an S1,
        S2 and the next S1 with no undefined (state 0) frame between them."""
        ev = self.events()
        s = np.asarray(self.states)
        out = []
        for i in range(len(ev) - 2):
            a, b, c = ev[i], ev[i + 1], ev[i + 2]
            if a.sound == "S1" and b.sound == "S2" and c.sound == "S1":
                lo = int(round(a.onset_s * self.frame_rate))
                hi = int(round(c.onset_s * self.frame_rate))
                if np.all(s[lo:hi] != 0):
                    out.append((a.onset_s, b.onset_s, c.onset_s))
        return out

    def intervals(self) -> dict[str, float | None]:
        """Median cycle, systolic (S1 onset to S2 onset) and diastolic intervals in seconds,
        and the heart rate they imply, from the decoded cycles."""
        cyc = np.array(self.cycles())
        if cyc.size == 0:
            return {"n_cycles": 0, "rr_s": None, "systole_s": None, "diastole_s": None,
                    "heart_rate_bpm": None}
        rr = cyc[:, 2] - cyc[:, 0]
        sys_ = cyc[:, 1] - cyc[:, 0]
        return {"n_cycles": int(len(cyc)), "rr_s": float(np.median(rr)),
                "systole_s": float(np.median(sys_)), "diastole_s": float(np.median(rr - sys_)),
                "heart_rate_bpm": float(60.0 / np.median(rr))}

    @property
    def median_heart_rate_bpm(self) -> float | None:
        """The heart rate: 60 / the median decoded cardiac cycle; None without a
        complete cycle."""
        return self.intervals()["heart_rate_bpm"]

    def to_tsv(self, path: str | Path) -> None:
        """Write the rows as CirCor ``start<TAB>end<TAB>state`` lines (atomically)."""
        write_atomic(path, tsv_text(self.rows()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (by :func:`heartsound.serialize.to_jsonable`): ``heart_rate_bpm`` is
        the median decoded cycle's (None without cycles), ``prior_heart_rate_bpm`` the
        duration model's estimate (None when no heart sounds were found); ``sr`` and the
        events' sample indices when known; ``presence`` when checked."""
        iv = self.intervals()
        d = {
            "method": self.method,
            "frame_rate": self.frame_rate,
            "sr": self.sr,
            "heart_rate_bpm": iv["heart_rate_bpm"],
            "prior_heart_rate_bpm": float(self.heart_rate_bpm) if self.heart_sounds else None,
            "systolic_interval_s": float(self.systolic_interval_s),
            "states": [[a, b, s] for a, b, s in self.rows()],
            "events": [e.to_dict() for e in self.events()],
            "intervals": iv,
        }
        if self.presence is not None:
            d["presence"] = self.presence
        return to_jsonable(d)
