"""The per-band input statistics of the shipped abnormal model's training recordings: the
reference that ``heartsound calibrate --band-norm`` scales a new site's model inputs to.

    python scripts/calibration_band_reference.py [--data ../shared/data] \
        [--out src/heartsound/models/abnormal_bands.json]

For every recording the shipped model was trained on (PhysioNet 2016 and CirCor, those
with an abnormal target), the variance over time of each Mel band of the model input
(:func:`heartsound.calibration.bands.band_variance`); written: their mean per band, the
front end it holds for and the number of recordings.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from heartsound.calibration.bands import band_variance
from heartsound.classification.inference import load_bundle
from heartsound.classification.frontend import FrontendConfig
from heartsound.classification.tasks import patient_target
from heartsound.datasets import find_corpora, read
from heartsound.serialize import json_text, write_atomic
from heartsound.training.classifier.data import feature_cache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("HEARTSOUND_DATA", "../shared/data"))
    ap.add_argument("--out", default="src/heartsound/models/abnormal_bands.json")
    a = ap.parse_args()
    meta = load_bundle("abnormal")
    fe = FrontendConfig(**meta["frontend"])
    found = find_corpora([a.data])
    corpora = meta.get("corpora") or ["physionet2016", "circor2022"]
    recs = [r for c in corpora for r in read(c, found[c])
            if patient_target("abnormal", r) is not None]
    feats = feature_cache(recs, fe)
    var = np.array([band_variance(f, fe.n_mels) for f in feats.values()])
    write_atomic(a.out, json_text({
        "what": "mean over the training recordings of each Mel band's variance over time "
                "of the abnormal model's input", "frontend": fe.to_dict(),
        "corpora": list(corpora), "n_recordings": len(var),
        "band_variance": var.mean(axis=0).tolist()}, indent=1))
    print(json.dumps({"out": a.out, "n": len(var)}))


if __name__ == "__main__":
    main()
