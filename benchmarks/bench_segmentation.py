"""Segmentation speed: seconds of audio segmented per CPU-second, on one core.

Every registered method that is available (``springer2016``, ``neural`` when installed) is
timed in the same run on real CirCor audio tiled to 10 s, 60 s and 10 min, so the
figures compare methods on the same machine and show whether the cost grows linearly
with length (``audio_s_per_cpu_s`` roughly constant across lengths).

Usage::

    python benchmarks/bench_segmentation.py [--repeats 3] [--recording 9979_AV]

Prints one JSON object. CPU time is ``time.process_time`` (all threads of this process);
thread pools are limited to one thread before numpy is imported.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HEARTSOUND_DATA", REPO.parent / "shared" / "data"))
LENGTHS_S = (10.0, 60.0, 600.0)


def main() -> None:
    import numpy as np

    import heartsound
    from heartsound.errors import HeartsoundError, ParameterError
    from heartsound.io import load
    from heartsound.segmentation import METHODS, get_method, segment

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="best of N per length (10 s, 60 s)")
    p.add_argument("--recording", default="9979_AV", help="CirCor stem to tile")
    args = p.parse_args()

    rec = load(DATA / "circor2022" / "recordings" / f"{args.recording}.flac")
    out: dict = {"heartsound_version": heartsound.__version__,
                 "machine": platform.machine(), "python": platform.python_version(),
                 "recording": args.recording, "sr": rec.sr, "methods": {}}
    for method in sorted(METHODS):
        try:
            get_method(method)
            segment(rec.y[: 10 * rec.sr], rec.sr, method=method)  # warm-up: model, imports
        except (ParameterError, ImportError, HeartsoundError) as exc:
            out["methods"][method] = {"available": False, "reason": str(exc)}
            continue
        rows = []
        for length in LENGTHS_S:
            n = int(length * rec.sr)
            y = np.tile(rec.y, int(np.ceil(n / rec.y.size)))[:n]
            reps = args.repeats if length < 600 else 1
            best = float("inf")
            for _ in range(reps):
                t0 = time.process_time()
                segment(y, rec.sr, method=method)
                best = min(best, time.process_time() - t0)
            rows.append({"audio_s": length, "cpu_s": round(best, 4),
                         "audio_s_per_cpu_s": round(length / best, 1)})
        rate = [r["audio_s_per_cpu_s"] for r in rows]
        out["methods"][method] = {
            "available": True, "lengths": rows,
            # 1.0 = perfectly linear cost; below 1 = longer recordings cost more per second
            "linearity_10min_vs_60s": round(rate[2] / rate[1], 3),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
