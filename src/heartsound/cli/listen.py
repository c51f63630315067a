"""``heartsound listen [FILE|-] [--realtime] [--jsonl] [--lag S]``: live S1/S2 and heart rate.

Reads a file (as fast as possible, or at real time with ``--realtime``) or, with ``-``,
WAV or raw PCM from standard input (raw needs ``--sr``; ``--format s16le`` or ``f32le``,
mono), feeds it to :class:`heartsound.Stream` in chunks and prints every S1/S2 as it is
confirmed: one JSON object per line with ``--jsonl`` (``"type": "event"`` lines, then one
``"type": "end"`` line), else a live one-line display.
"""

from __future__ import annotations

import argparse
import sys
import time
import wave
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

__all__ = ["add_arguments", "main", "read_chunks"]

_FORMATS = {"s16le": ("<i2", 32768.0), "f32le": ("<f4", 1.0)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default="-", metavar="FILE",
                   help="audio file, or - for WAV / raw PCM on standard input (default)")
    p.add_argument("--realtime", action="store_true",
                   help="play a file at real time instead of as fast as possible")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    p.add_argument("--lag", type=float, default=None, metavar="S",
                   help="seconds from a sound's offset to its emission, plus up to one "
                        "block (default: neural 0.26, 0.8 s blocks; springer2016 0.4, 0.4 s "
                        "blocks)")
    p.add_argument("--method", default="neural", choices=("neural", "springer2016"),
                   help="segmentation method (default neural)")
    p.add_argument("--sr", type=int, default=None, help="sample rate of raw PCM on stdin")
    p.add_argument("--format", default="s16le", choices=sorted(_FORMATS),
                   help="raw PCM sample format on stdin (default s16le, mono)")
    p.add_argument("--chunk-ms", type=float, default=100.0,
                   help="chunk length fed to the stream (ms, >= 10; default 100)")


def _wav_chunks(f: BinaryIO, seconds: float) -> tuple[int, Iterator[np.ndarray]]:
    w = wave.open(f, "rb")
    sr, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
    if width not in (2, 4):
        from ..errors import AudioError

        raise AudioError(f"<stdin>: WAV with {8 * width}-bit samples (16 or 32-bit PCM only)")
    dtype, scale = ("<i2", 32768.0) if width == 2 else ("<i4", 2.0 ** 31)
    n = max(1, int(seconds * sr))

    def gen() -> Iterator[np.ndarray]:
        while True:
            b = w.readframes(n)
            if not b:
                return
            yield (np.frombuffer(b, dtype).reshape(-1, ch).mean(axis=1) / scale)

    return sr, gen()


def _raw_chunks(f: BinaryIO, sr: int, fmt: str, seconds: float) -> Iterator[np.ndarray]:
    dtype, scale = _FORMATS[fmt]
    size = np.dtype(dtype).itemsize
    n = max(1, int(seconds * sr)) * size
    rest = b""
    while True:
        b = f.read(n)
        if not b:
            return
        b = rest + b
        cut = len(b) - len(b) % size
        rest = b[cut:]
        yield np.frombuffer(b[:cut], dtype).astype(np.float64) / scale


def read_chunks(source: str, *, sr: int | None, fmt: str, seconds: float
                ) -> tuple[int, Iterator[np.ndarray]]:
    """Sample rate and chunks (``seconds`` long, float, mono) of a file or of stdin
    (``"-"``: WAV when it starts with ``RIFF``, else raw PCM at ``sr``)."""
    from ..errors import ParameterError
    from ..io import load

    if source != "-":
        rec = load(source)
        n = max(1, int(seconds * rec.sr))
        return int(rec.sr), (rec.y[i:i + n] for i in range(0, len(rec.y), n))
    stdin = sys.stdin.buffer
    head = stdin.peek(4)[:4] if hasattr(stdin, "peek") else b""
    if head == b"RIFF":
        return _wav_chunks(stdin, seconds)  # type: ignore[arg-type]
    if sr is None:
        raise ParameterError("<stdin>: raw PCM needs --sr (or send a WAV file)")
    return int(sr), _raw_chunks(stdin, int(sr), fmt, seconds)  # type: ignore[arg-type]


def _line(stream: Any, e: Any) -> dict[str, Any]:
    hr, q = stream.heart_rate(), stream.quality()
    return {"type": "event", **e.to_dict(),
            "heart_rate_bpm": None if hr.bpm is None else round(hr.bpm, 1),
            "heart_rate_sd_bpm": None if hr.sd_bpm is None else round(hr.sd_bpm, 1),
            "quality": q.label}


def _show(stream: Any, e: Any, tty: bool) -> None:
    hr, q = stream.heart_rate(), stream.quality()
    rate = "--" if hr.bpm is None else f"{hr.bpm:5.1f}" + (
        "" if hr.sd_bpm is None else f" +-{hr.sd_bpm:4.1f}")
    text = (f"t={stream.time_s:7.2f}s  {e.sound} {e.onset_s:7.2f}-{e.offset_s:7.2f}s  "
            f"HR {rate} bpm  quality {q.label}")
    print(("\r" + text.ljust(78)) if tty else text, end="" if tty else "\n", flush=True)


def main(args: argparse.Namespace) -> int:
    """Stream the input; print events as they are confirmed. Returns 0."""
    from ..errors import ParameterError
    from ..serialize import json_text
    from ..streaming import Stream

    if not args.chunk_ms >= 10:
        raise ParameterError(f"--chunk-ms must be >= 10, got {args.chunk_ms}")
    sr, chunks = read_chunks(args.file, sr=args.sr, fmt=args.format,
                             seconds=args.chunk_ms / 1000.0)
    stream = Stream(sr, method=args.method, lag_s=args.lag)
    tty = sys.stdout.isatty() and not args.jsonl
    start, n_events = time.monotonic(), 0

    def emit(events: list[Any]) -> None:
        nonlocal n_events
        for e in events:
            n_events += 1
            if args.jsonl:
                print(json_text(_line(stream, e)).strip(), flush=True)
            else:
                _show(stream, e, tty)

    for chunk in chunks:
        if args.realtime and args.file != "-":
            time.sleep(max(0.0, stream.time_s - (time.monotonic() - start)))
        emit(stream.push(chunk))
    emit(stream.flush())
    hr, q = stream.heart_rate(), stream.quality()
    end = {"type": "end", "duration_s": round(stream.time_s, 3), "n_events": n_events,
           "heart_rate_bpm": None if hr.bpm is None else round(hr.bpm, 1),
           "quality": q.label}
    if args.jsonl:
        print(json_text(end).strip(), flush=True)
    else:
        print(("\n" if tty else "") + f"{stream.time_s:.1f} s, {n_events} sounds, heart rate "
              f"{'n/a' if hr.bpm is None else f'{hr.bpm:.0f} bpm'}, quality {q.label}")
    return 0
