"""Fit the shipped OOD statistics (``src/heartsound/models/ood_profile.json``) from the
training corpora's spectral profiles (``scripts/site_profiles.py``): one Gaussian per
site (PhysioNet 2016 databases a-f, CirCor), threshold the 99th percentile of the
training recordings' own scores.

    python scripts/fit_ood_profile.py out/profiles.npz \
        [--out src/heartsound/models/ood_profile.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess

import numpy as np

from heartsound.classification.ood import fit_stats, score
from heartsound.serialize import json_text, write_atomic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("profiles")
    ap.add_argument("--out", default="src/heartsound/models/ood_profile.json")
    a = ap.parse_args()
    pz = np.load(a.profiles)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    meta = {"corpora": ["physionet2016 (1,782 included records)", "circor2022 (1,932)"],
            "script": "scripts/fit_ood_profile.py", "commit": commit,
            "date": dt.date.today().isoformat()}
    st = fit_stats(pz["profiles"], list(pz["sites"]), meta=meta)
    write_atomic(a.out, json_text(st.to_dict()))
    s = score(st, pz["profiles"])
    print(json.dumps({"threshold": st.threshold, "n": len(s),
                      "flagged_in_training": float(np.mean(s >= st.threshold)),
                      "per_site_median": {k: float(np.median(s[pz["sites"] == k]))
                                          for k in st.sites}}, indent=1))


if __name__ == "__main__":
    main()
