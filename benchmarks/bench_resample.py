"""Resampling to the analysis rates (heartsound.resampling): CPU per second of audio of
``heartsound.io.resample`` (one polyphase filter, or two stages from a decimation by 10)
against ``scipy.signal.resample_poly`` with its single default filter (the baseline, in
the same run), their difference, and, when ``soxr`` (python-soxr) is installed, its
one-shot cost and how far its stream's output lags its input (what a live stream would
wait for). Prints one JSON object.

    python benchmarks/bench_resample.py --seconds 10 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from heartsound.resampling import ratio, resample, resample_plan

#: (input rate, output rate) pairs timed: the 1 kHz segmentation rate and the 2 kHz
#: classification rate from common recorder rates, and the stethoscope rates.
PAIRS = ((44100, 1000), (48000, 1000), (22050, 1000), (16000, 1000), (44100, 2000),
         (4000, 1000), (2000, 1000))


def cpu_ms_per_s(f: Callable[[], Any], seconds: float, repeats: int) -> float:
    """Best of ``repeats`` process times of ``f()``, in ms per second of audio."""
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        f()
        best = min(best, time.process_time() - t)
    return round(1000.0 * best / seconds, 4)


def soxr_figures(x: np.ndarray, sr_in: int, sr_out: int, seconds: float,
                 repeats: int) -> dict[str, Any] | None:
    """soxr (HQ) one-shot cost, and the lag of its stream's output behind its input when
    fed 20 ms chunks (max and median over the chunks after the first second)."""
    try:
        import soxr
    except ImportError:
        return None
    out: dict[str, Any] = {"one_shot_ms_per_s": cpu_ms_per_s(
        lambda: soxr.resample(x, sr_in, sr_out, quality="HQ"), seconds, repeats)}
    for q in ("HQ", "LQ"):
        s = soxr.ResampleStream(sr_in, sr_out, 1, dtype="float64", quality=q)
        n, got, lags = int(0.02 * sr_in), 0, []
        for i in range(0, x.size, n):
            got += s.resample_chunk(x[i:i + n]).size
            lags.append((i + n) / sr_in - got / sr_out)
        tail = lags[int(1.0 / 0.02):]
        out[f"stream_{q}_lag_s"] = {"max": round(max(tail), 3),
                                   "median": round(float(np.median(tail)), 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=10.0, help="audio length (white noise)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"seconds": args.seconds, "repeats": args.repeats,
                           "load_avg_before": os.getloadavg(), "pairs": []}
    for sr_in, sr_out in PAIRS:
        x = 0.1 * rng.standard_normal(int(args.seconds * sr_in))
        up, down = ratio(sr_in, sr_out)
        ref = resample_poly(x, up, down)
        new = resample(x, sr_in, sr_out)
        mid = slice(sr_out // 10, -sr_out // 10)          # away from the padded edges
        row = {"sr_in": sr_in, "sr_out": sr_out,
               "stages": [[u, d, int(t.size)] for u, d, t in resample_plan(sr_in, sr_out)],
               "resample_poly_ms_per_s": cpu_ms_per_s(
                   lambda: resample_poly(x, up, down), args.seconds, args.repeats),
               "heartsound_ms_per_s": cpu_ms_per_s(
                   lambda: resample(x, sr_in, sr_out), args.seconds, args.repeats),
               "max_abs_diff_vs_resample_poly_rel": float(
                   np.abs(new - ref)[mid].max() / np.abs(ref).max()),
               "identical_to_resample_poly": bool(np.array_equal(new, ref))}
        if sr_in >= 16000:
            row["soxr"] = soxr_figures(x, sr_in, sr_out, args.seconds, args.repeats)
        out["pairs"].append(row)
    out["load_avg_after"] = os.getloadavg()
    out["command"] = "python benchmarks/bench_resample.py " + " ".join(
        [f"--seconds {args.seconds:g}", f"--repeats {args.repeats}"])
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
