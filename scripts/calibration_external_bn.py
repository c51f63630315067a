"""The shipped abnormal model's P(abnormal) on a corpus it never saw, with per-band input
normalisation to each site (``heartsound calibrate``'s default for abnormal), for
``scripts/calibration_lodo.py --external``.

    python scripts/calibration_external_bn.py out/pascal_abnormal.npz \
        [--out out/pascal_abnormal_bn.npz]

Reads the NPZ of ``scripts/pascal_scores.py`` (``ids``, ``sites``, ``raw``, ``truth``)
and writes the same with ``raw`` the scores of the inputs scaled to the site's per-band
statistics (all of the site's recordings, unlabelled:
:func:`heartsound.calibration.files.normalised_scores_of` over each site) and
``input_scale`` per site; prints each site's AUC before and after.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from heartsound.calibration.files import normalised_scores_of
from heartsound.datasets import read
from heartsound.evaluation.classification import binary_auc
from heartsound.training.classifier.data import record_key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scores")
    ap.add_argument("--data", default=os.environ.get("HEARTSOUND_DATA", "../shared/data"))
    ap.add_argument("--out", default="out/pascal_abnormal_bn.npz")
    a = ap.parse_args()
    z = dict(np.load(a.scores))
    path = {record_key(r): r.audio_path for r in read("pascal2011", Path(a.data) / "pascal2011")}
    raw = np.array(z["raw"], np.float64)
    summary = {}
    for s in sorted(set(z["sites"])):
        m = z["sites"] == s
        q, _, scale = normalised_scores_of("abnormal", [path[i] for i in z["ids"][m]])
        y = z["truth"][m] == "abnormal"
        summary[str(s)] = {"auc": binary_auc(y, raw[m]), "auc_band_normalised": binary_auc(y, q),
                           "scale_min_max": [float(scale.min()), float(scale.max())]}
        raw[m] = q
    np.savez(a.out, **{**z, "raw": raw})
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
