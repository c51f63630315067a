"""Cut the shipped example recording from the CirCor DigiScope corpus.

Reads ``../shared/data/circor2022/recordings/<record>.flac`` (2000 Hz) and its ``.tsv``
annotation, keeps ``--duration`` seconds from ``--start`` and writes
``src/heartsound/data/example.flac`` (FLAC, PCM_16, 2000 Hz) and ``example.tsv`` (the
expert segmentation of the cut, times shifted to start at 0). Run from the repository root::

    python scripts/make_example.py

The default record, 68306_PV, is a patient with a grade III/VI harsh early-systolic murmur
(CirCor ``Murmur: Present``) recorded at the pulmonary valve, the site where the murmur is
most audible; its annotation covers >99 % of the recording and no sample is clipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "circor2022" / "recordings"
OUT = REPO / "src" / "heartsound" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--record", default="68306_PV")
    ap.add_argument("--start", type=float, default=4.0, help="seconds")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()

    y, sr = sf.read(str(a.data / f"{a.record}.flac"), dtype="int16")
    i0, i1 = int(round(a.start * sr)), int(round((a.start + a.duration) * sr))
    if i1 > len(y):
        raise SystemExit(f"{a.record} is only {len(y) / sr:.2f} s long")
    a.out.mkdir(parents=True, exist_ok=True)
    sf.write(str(a.out / "example.flac"), y[i0:i1], sr, format="FLAC", subtype="PCM_16")

    t0, t1 = i0 / sr, i1 / sr
    lines = []
    for ln in (a.data / f"{a.record}.tsv").read_text().splitlines():
        if not ln.strip():
            continue
        s, e, st = ln.split("\t")
        s, e = max(float(s), t0), min(float(e), t1)
        if e > s:
            lines.append(f"{s - t0:.6f}\t{e - t0:.6f}\t{int(st)}\n")
    (a.out / "example.tsv").write_text("".join(lines))
    size = (a.out / "example.flac").stat().st_size
    print(f"{a.record} [{t0:.3f}, {t1:.3f}) s -> {a.out / 'example.flac'} ({size} bytes), "
          f"{len(lines)} annotation rows; peak {np.abs(y[i0:i1]).max() / 32768:.3f}")


if __name__ == "__main__":
    main()
