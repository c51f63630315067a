"""Spectral profiles (:func:`heartsound.classification.ood.profile`) of every PhysioNet
2016 and CirCor recording, cached for the generalisation studies.

    python scripts/site_profiles.py [--data ../shared/data] [--out out/profiles.npz]

Writes ``ids`` (``corpus/id``, as :func:`heartsound.training.classifier.data.record_key`),
``sites`` (``physionet2016/a`` ... ``circor2022``), ``profiles`` [n, 32]; prints a JSON
summary. Recordings that cannot be read are skipped and listed.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from heartsound.classification.ood import profile
from heartsound.datasets import read
from heartsound.errors import HeartsoundError
from heartsound.io import load
from heartsound.training.classifier.data import database, record_key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("HEARTSOUND_DATA", "../shared/data"))
    ap.add_argument("--out", default="out/profiles.npz")
    ap.add_argument("--corpora", nargs="+", default=["physionet2016", "circor2022"])
    a = ap.parse_args()
    ids, sites, rows, bad = [], [], [], []
    for corpus in a.corpora:
        for r in read(corpus, Path(a.data) / corpus):
            try:
                rec = load(r.audio_path)
                rows.append(profile(rec.y, rec.sr))
            except HeartsoundError as exc:
                bad.append(f"{record_key(r)}: {exc}")
                continue
            ids.append(record_key(r))
            sites.append(database(r) if corpus != "pascal2011"
                         else f"pascal2011/{r.labels.get('set', r.id[:1])}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(a.out, ids=np.array(ids), sites=np.array(sites), profiles=np.array(rows))
    print(json.dumps({"n": len(ids), "sites": {s: sites.count(s) for s in sorted(set(sites))},
                      "skipped": bad}, indent=1))


if __name__ == "__main__":
    main()
