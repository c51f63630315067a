"""
Batch on a Dask cluster
=======================

``heartsound batch DIR --out OUT --scheduler ADDRESS`` runs the per-file work of
``heartsound batch`` as tasks on a `Dask distributed <https://distributed.dask.org>`_
cluster; :func:`heartsound.batch.run_batch` with ``scheduler=`` is the same from Python.
``local:N`` starts a cluster of N worker processes on this machine, which is how this
example runs (a real cluster is ``tcp://host:port``, with the folders at the same path on
every worker; see ``docs/cluster.md``). It needs the ``cluster`` extra
(``pip install -e ".[cluster]"``: dask[distributed] and pyarrow).

Four short recordings are linked into a temporary folder (nothing is copied) and
analysed twice: on a local cluster of two workers, and with two local worker processes
(``jobs=2``, no Dask). The two summaries (``summary.parquet``, read with pyarrow, and
``summary.csv``) are the same, row for row.

Dask starts its workers with the ``spawn`` method, which imports the main script again
in each worker: as in any script that starts processes, the run is under
``if __name__ == "__main__":``.
"""

import csv
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pyarrow.parquet as pq

from heartsound.batch import run_batch

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
FILES = ["physionet2016/training-a/a0008.flac", "physionet2016/training-e/e00027.flac",
         "pascal2011/setB/normal__170_1307970562729_B.flac",
         "circor2022/recordings/49574_AV.flac"]

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        archive = work / "archive"
        archive.mkdir()
        for rel in FILES:
            (archive / Path(rel).name).symlink_to((DATA / rel).resolve())
        # Absolute paths: every worker reads and writes the same paths as the client.
        on_cluster = run_batch(archive, work / "cluster", scheduler="local:2",
                               tasks=("abnormal", "murmur"), plots=False, progress=False)
        local = run_batch(archive, work / "local", jobs=2, tasks=("abnormal", "murmur"),
                          plots=False, progress=False)
        print(f"cluster: {on_cluster.n_ok} of {on_cluster.n_files} analysed; "
              f"local: {local.n_ok} of {local.n_files}")

        table = pq.read_table(work / "cluster" / "summary.parquet")
        print(f"summary.parquet: {table.num_rows} rows; columns:",
              ", ".join(table.column_names))
        rows = table.to_pylist()
        with open(work / "local" / "summary.csv", newline="", encoding="utf-8") as f:
            local_rows = list(csv.DictReader(f))
        with open(work / "cluster" / "summary.csv", newline="", encoding="utf-8") as f:
            cluster_rows = list(csv.DictReader(f))
        print("summary.csv of the cluster run == summary.csv of the local run:",
              cluster_rows == local_rows)

    for r in rows:
        print(f"{r['path']:34} {r['status']:3} {r['heart_rate_bpm']:6.1f} bpm  "
              f"abnormal={r['abnormal_label']}  murmur={r['murmur_label']}")

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh([r["path"] for r in rows], [r["heart_rate_bpm"] for r in rows], label="cluster")
    ax.plot([float(r["heart_rate_bpm"]) for r in local_rows], [r["path"] for r in local_rows],
            "k|", ms=20, mew=2, label="local jobs=2")
    ax.set_xlim(0, 150)
    ax.set_xlabel("heart rate (bpm)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    plt.show()
