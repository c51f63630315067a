"""The shipped abnormal model's P(abnormal) on PASCAL 2011 (never trained on): normal
(normal) and murmur (abnormal) recordings of sets A and B, as ``analyze`` computes it,
for the external site-calibration figure of ``scripts/calibration_lodo.py --external``.

    python scripts/pascal_scores.py [--data ../shared/data] [--out out/pascal_abnormal.npz]

Writes ``ids`` (``pascal2011/<id>``), ``sites`` (``pascal2011/A``, ``pascal2011/B``),
``raw`` and ``truth``; recordings shorter than 1 s (rejected by ``analyze``) are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from heartsound.calibration import scores_of
from heartsound.classification.tasks import patient_target
from heartsound.datasets import read
from heartsound.errors import AudioError
from heartsound.io import load
from heartsound.training.classifier.data import record_key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("HEARTSOUND_DATA", "../shared/data"))
    ap.add_argument("--out", default="out/pascal_abnormal.npz")
    a = ap.parse_args()
    recs = []
    for r in read("pascal2011", Path(a.data) / "pascal2011"):
        if patient_target("abnormal", r) is None:
            continue
        try:
            load(r.audio_path)
        except AudioError:
            continue
        recs.append(r)
    raw, _ = scores_of("abnormal", [r.audio_path for r in recs])
    sites = [f"pascal2011/{r.labels['set']}" for r in recs]
    truth = [patient_target("abnormal", r) for r in recs]
    np.savez(a.out, ids=np.array([record_key(r) for r in recs]), sites=np.array(sites),
             raw=raw, truth=np.array(truth))
    print(json.dumps({s: sites.count(s) for s in sorted(set(sites))}))


if __name__ == "__main__":
    main()
