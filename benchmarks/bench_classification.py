"""Inference speed of the shipped classifiers on one core, printed as JSON.

Measures, per task, the wall time of :func:`heartsound.classification.classify` on a
60 s recording at 2000 Hz (and 44.1 kHz, which adds resampling), divided by the audio
duration; the front end alone (:func:`log_mel`) is the baseline of the same run. A model
with phase channels also segments the recording; the segmenter alone is timed too, and
such a task is timed again with the segmentation given (as ``analyze`` runs it).

    OMP_NUM_THREADS=1 python benchmarks/bench_classification.py
"""

from __future__ import annotations

import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def _best(fn, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    from heartsound.classification import classify, classify_all
    from heartsound.classification.frontend import log_mel
    from heartsound.classification.inference import load_bundle
    from heartsound.segmentation import segment

    rng = np.random.default_rng(0)
    seconds = 60.0
    out: dict = {"audio_seconds": seconds, "threads": 1, "tasks": {}}
    for sr in (2000, 44100):
        y = 0.1 * rng.standard_normal(int(seconds * sr))
        fe = _best(lambda: log_mel(y, sr))
        out[f"frontend_s_per_audio_s_{sr}hz"] = fe / seconds
        seg = segment(y, sr)
        out[f"segment_s_per_audio_s_{sr}hz"] = _best(lambda: segment(y, sr)) / seconds
        for task in ("abnormal", "murmur", "severity"):
            classify(y, sr, task=task)  # load the session once
            t = _best(lambda: classify(y, sr, task=task))
            d = out["tasks"].setdefault(task, {"model": load_bundle(task)["model"]})
            d[f"s_per_audio_s_{sr}hz"] = t / seconds
            d[f"realtime_factor_{sr}hz"] = seconds / t
            d[f"model_share_{sr}hz"] = max(0.0, (t - fe) / t)
            if load_bundle(task)["frontend"].get("phase_channels"):
                d["phase_channels"] = True
                t = _best(lambda: classify(y, sr, task=task, segmentation=seg))
                d[f"s_per_audio_s_{sr}hz_segmentation_given"] = t / seconds
        t = _best(lambda: classify_all(y, sr), repeats=3)
        out[f"classify_all_s_per_audio_s_{sr}hz"] = t / seconds
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
