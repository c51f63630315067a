"""
The HTTP API of heartsound serve
================================

``heartsound serve [FOLDER]`` runs a local web app; its HTTP API answers with the JSON of
``heartsound analyze --json`` (``Analysis.to_dict()``). :func:`heartsound.web.create_app`
builds the same application, so it can be called in-process with Starlette's
``TestClient``: no server, no port, no network. This needs the ``web`` extra and, for
the ``TestClient``, httpx (``pip install -e ".[web,web-test]"``).

Here a PhysioNet recording is uploaded to ``POST /api/analyze`` and a folder of two
recordings is listed with ``GET /api/recordings``, before and after ``GET /api/result``
analyses one of them. The server lists only files inside its folder (a link that leads
out of it is not followed), so the two recordings are copied into a temporary folder
that is deleted at the end. The figure draws the segmentation of the answer (its
``segmentation.states`` rows: start, end, state 1-4 for S1, systole, S2, diastole) and
the class probabilities of each task.
"""

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt

with warnings.catch_warnings():  # starlette's note about httpx's successor
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from heartsound.web import create_app

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
RECORDING = DATA / "physionet2016" / "training-a" / "a0008.flac"

with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp)
    for rel in ["physionet2016/training-a/a0008.flac", "physionet2016/training-e/e00027.flac"]:
        shutil.copy(DATA / rel, folder)
    # The TestClient talks to the app directly; the server accepts only loopback hosts
    # when it has no token, so the client names 127.0.0.1.
    with TestClient(create_app(folder), base_url="http://127.0.0.1") as client:
        with open(RECORDING, "rb") as f:
            r = client.post("/api/analyze", files={"file": (RECORDING.name, f)},
                            data={"tasks": "abnormal,murmur"})
        r.raise_for_status()
        result = r.json()
        before = client.get("/api/recordings").json()
        # GET /api/result analyses a folder recording (then caches it): the list shows it.
        client.get("/api/result", params={"id": "e00027.flac"}).raise_for_status()
        listing = client.get("/api/recordings", params={"sort": "heart_rate"}).json()

print("source:", result["source"], f"({result['duration_s']:.1f} s)")
print(f"heart rate {result['heart_rate_bpm']:.1f} bpm, usable: {result['quality']['usable']}")
for task, c in result["classification"].items():
    print(f"{task:8} {c['label']:9} {c['decision']['rule']}")
print(f"{listing['total']} recordings in the folder; analysed before: "
      f"{[i['analysed'] for i in before['items']]}, after: "
      f"{[i['analysed'] for i in listing['items']]}")
for item in listing["items"]:
    print("  ", item)

STATES = {1: ("S1", "C0"), 2: ("systole", "C2"), 3: ("S2", "C1"), 4: ("diastole", "C7")}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3), gridspec_kw={"width_ratios": [2, 1]})
seen = set()
for start, end, state in result["segmentation"]["states"]:
    if end > 5.0:
        break
    name, colour = STATES[state]
    ax1.axvspan(start, end, ymax=0.8, color=colour, alpha=0.6,
                label=None if name in seen else name)
    seen.add(name)
ax1.set_xlim(0, 5)
ax1.set_yticks([])
ax1.set_xlabel("time (s)")
ax1.set_title("segmentation.states of the answer (first 5 s)")
ax1.legend(loc="upper center", ncol=4, fontsize=8)
labels, values = [], []
for task, c in result["classification"].items():
    for cls, p in c["probabilities"].items():
        labels.append(f"{task}: {cls}")
        values.append(p)
ax2.barh(labels, values)
ax2.set_xlim(0, 1)
ax2.set_xlabel("probability")
ax2.set_title("classification")
fig.tight_layout()
plt.show()
