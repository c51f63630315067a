"""How often the quality check's envelope-periodicity flag (``aperiodic``) stands beside
a segmentation that found heart sounds (issue 15: a quality reason must not contradict a
heart rate).

    python scripts/quality_vs_presence.py circor2022 400
    python scripts/quality_vs_presence.py physionet2016 600

Reads ``$HEARTSOUND_DATA/<corpus>`` (default ``../shared/data``), shuffles its FLAC files
with seed 0, analyses the first N without classification and prints one JSON line:
recordings, ``aperiodic``, ``aperiodic`` with heart sounds found, not usable, no heart
sounds.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

from heartsound.pipeline import analyze


def main() -> None:
    corpus, n = sys.argv[1], int(sys.argv[2])
    root = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data")) / corpus
    files = sorted(root.rglob("*.flac"))
    random.Random(0).shuffle(files)
    rows = []
    for f in files[:n]:
        a = analyze(f, tasks=())
        rows.append(("aperiodic" in a.quality.flags, bool(a.quality.usable),
                     bool(a.segmentation.heart_sounds)))
    print(json.dumps({"corpus": corpus, "n": len(rows),
                      "aperiodic": sum(r[0] for r in rows),
                      "aperiodic_with_heart_sounds": sum(r[0] and r[2] for r in rows),
                      "not_usable": sum(not r[1] for r in rows),
                      "no_heart_sounds": sum(not r[2] for r in rows)}))


if __name__ == "__main__":
    main()
