"""What a batch reads and where it writes: input discovery, output names, the folder lock.

* :func:`audio_extensions`: the file name endings of every format the installed
  libsndfile reads (:func:`soundfile.available_formats`), MP3 included when it is there.
* :func:`find_inputs`: every file under the input folder, split into audio files and the
  other files (reported as skipped). Hidden files and folders, and every folder a batch
  writes into (it holds :data:`LOCK_NAME`), are left out, so an output folder inside the
  input folder is never read back as input.
* :func:`output_targets`: the output folder and stem of each input, mirroring the tree.
* :class:`OutputLock`: one batch at a time per output folder.

File names are whatever the operating system allows: paths stay :class:`~pathlib.Path`
objects (undecodable bytes as surrogate escapes, :pep:`383`) and :func:`display` gives
a printable form.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import HeartsoundError, ParameterError
from .serialize import display_text as display  # printable file names

__all__ = ["audio_extensions", "find_inputs", "output_targets", "OutputLock",
           "BatchLockedError", "LOCK_NAME", "display"]

#: Lock file of a batch in its output folder; a folder holding it is never read as input.
LOCK_NAME = ".heartsound-batch.lock"

# libsndfile major format -> file name endings. MAT4/MAT5 are left out: a ``.mat`` file
# is almost always MATLAB data, not audio. RAW has no header, hence no ending.
_ENDINGS = {
    "AIFF": (".aiff", ".aif", ".aifc"), "AU": (".au", ".snd"), "AVR": (".avr",),
    "CAF": (".caf",), "FLAC": (".flac",), "HTK": (".htk",), "SVX": (".iff", ".svx"),
    "MPC2K": (".mpc2k",), "MP3": (".mp3",), "MPEG": (".mp3", ".mp2"),
    "OGG": (".ogg", ".oga", ".opus"), "PAF": (".paf",), "PVF": (".pvf",),
    "RF64": (".rf64",), "SD2": (".sd2",), "SDS": (".sds",), "IRCAM": (".sf", ".ircam"),
    "VOC": (".voc",), "W64": (".w64",), "WAV": (".wav", ".wave"), "NIST": (".nist", ".sph"),
    "WAVEX": (".wav",), "WVE": (".wve",), "XI": (".xi",),
}


class BatchLockedError(HeartsoundError):
    """Another batch is writing into the same output folder."""


def audio_extensions() -> tuple[str, ...]:
    """Lower-case endings (``".wav"``...) of the formats the installed libsndfile reads."""
    import soundfile as sf

    exts = {e for fmt in sf.available_formats() for e in _ENDINGS.get(fmt.upper(), ())}
    return tuple(sorted(exts))


def find_inputs(root: str | Path, *, exclude: str | Path | None = None
                ) -> tuple[list[Path], list[Path]]:
    """Audio files and other files under ``root`` (recursive, each list sorted).

    Parameters
    ----------
    root : str or Path
        Input folder.
    exclude : str or Path, optional
        The output folder; nothing under it is listed.

    Returns
    -------
    audio, other : list of Path
        Files with an ending of :func:`audio_extensions`, and the rest (not hidden).
    """
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"batch: {display(root)} is not a folder")
    exts = audio_extensions()
    ex = os.path.realpath(exclude) if exclude is not None else None
    audio: list[Path] = []
    other: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if LOCK_NAME in filenames and dirpath != str(root) or (
                ex is not None and os.path.realpath(dirpath) == ex):
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            p = Path(dirpath, name)
            if name.startswith(".") or name == "summary.csv" and LOCK_NAME in filenames \
                    or not p.is_file():
                continue
            (audio if p.suffix.lower() in exts else other).append(p)
    return sorted(audio), sorted(other)


def output_targets(root: Path, files: Sequence[Path], out: Path) -> list[tuple[Path, str]]:
    """Output folder and stem of each file; stems shared by two files of one folder
    (``a.wav``, ``a.flac``) get the ending appended (``a_flac``)."""
    seen: dict[tuple[Path, str], int] = {}
    rel = [f.relative_to(root) for f in files]
    for r in rel:
        seen[(r.parent, r.stem)] = seen.get((r.parent, r.stem), 0) + 1
    res = []
    for r in rel:
        stem = r.stem if seen[(r.parent, r.stem)] == 1 else f"{r.stem}_{r.suffix[1:].lower()}"
        res.append((out / r.parent, stem))
    return res


class OutputLock:
    """An exclusive lock on an output folder for the life of one batch.

    ``fcntl.flock`` on :data:`LOCK_NAME`: the kernel releases it when the process ends,
    however it ends, so a lock is never stale. The file records the holder's pid, host
    and start time for the message a second batch gets (:class:`BatchLockedError`).
    """

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ParameterError(f"batch: cannot write into {display(self.path.parent)} "
                                 f"({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise BatchLockedError(
                f"batch: another batch is writing into {display(self.path.parent)} "
                f"({holder}); wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock; the file stays as the folder's mark
            self._fd = None
