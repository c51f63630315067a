"""
Site calibration
================

The decision threshold and the probability scale of a classifier do not transfer between
sites and recording devices. ``heartsound calibrate`` (:mod:`heartsound.calibration`)
refits them on a site's own labelled recordings without retraining the shipped model:
:func:`heartsound.calibration.scores_of` gives the shipped model's raw scores
(``P(abnormal)``, as ``analyze`` computes them), :func:`heartsound.calibration.fit` fits
a :class:`~heartsound.calibration.Calibration`, and ``heartsound.analyze(...,
calibration=cal)`` (``heartsound analyze --calibration site.json``) applies it.

Here the "site" is one PhysioNet 2016 database, ``training-b`` (AADHSDB; labels from its
``REFERENCE.csv`` through :func:`heartsound.datasets.physionet2016.read`): a calibration
(``platt``: a logistic map of the score's logit, threshold at the labelled share of
abnormal recordings) is fitted on 12 normal and 12 abnormal recordings and applied to 24
others of the same database.

.. note::
   These tiny numbers illustrate the API; they are **not** the reported figures. The
   shipped model was trained on all of PhysioNet 2016 (these recordings included), and
   24 test recordings give a MAcc with a wide uncertainty. The reported figures
   (leave-one-database-out: models that never saw the calibrated database, MAcc against
   the number k of labelled recordings of the new database) are in
   ``docs/results/generalisation.md``.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import heartsound
from heartsound import calibration
from heartsound.datasets import physionet2016
from heartsound.evaluation.metrics import macc

DATA = Path(os.environ.get("HEARTSOUND_DATA", "../shared/data"))
records = physionet2016.read(DATA / "physionet2016", subsets="b")
rng = np.random.default_rng(0)
by_label = {lab: [r for r in records if r.label == lab] for lab in ("normal", "abnormal")}
picked = {lab: rng.choice(len(rs), 24, replace=False) for lab, rs in by_label.items()}
fit_set = [by_label[lab][i] for lab in by_label for i in picked[lab][:12]]
test_set = [by_label[lab][i] for lab in by_label for i in picked[lab][12:]]

raw_fit, _ = calibration.scores_of("abnormal", [r.audio_path for r in fit_set])
cal = calibration.fit("abnormal", raw_fit, [r.label for r in fit_set], method="platt")
counts = {str(k): v for k, v in cal.provenance["n_per_class"].items()}
print(f"fitted: {cal.method}, threshold {cal.threshold:.2f}, on {counts}")

raw_test, _ = calibration.scores_of("abnormal", [r.audio_path for r in test_set])
cal_test = cal.calibrated(raw_test)
truth = [r.label for r in test_set]

# The model's own threshold, and the calibrated decision, as analyze reports them.
plain = heartsound.analyze(test_set[0].audio_path, tasks=("abnormal",)).to_dict()
calibrated = heartsound.analyze(test_set[0].audio_path, tasks=("abnormal",),
                                calibration=cal).to_dict()
model_thr = plain["classification"]["abnormal"]["decision"]["threshold"]
name = test_set[0].audio_path.name
print(name, "without:", plain["classification"]["abnormal"]["decision"]["rule"])
print(name, "with:   ", calibrated["classification"]["abnormal"]["decision"]["rule"])

pred_raw = np.where(raw_test >= model_thr, "abnormal", "normal")
pred_cal = np.where(cal_test >= cal.threshold, "abnormal", "normal")
macc_raw, macc_cal = macc(truth, pred_raw), macc(truth, pred_cal)
print(f"MAcc on the {len(test_set)} other recordings: model threshold {macc_raw:.2f}, "
      f"calibrated {macc_cal:.2f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"width_ratios": [2, 1]})
for lab, colour in (("normal", "C0"), ("abnormal", "C3")):
    m = np.array(truth) == lab
    ax1.scatter(raw_test[m], cal_test[m], color=colour, label=lab, s=20)
ax1.axvline(model_thr, color="grey", ls="--", lw=1, label="model threshold")
ax1.axhline(cal.threshold, color="k", ls=":", lw=1, label="calibrated threshold")
ax1.set_xlabel("raw P(abnormal)")
ax1.set_ylabel("calibrated P(abnormal)")
ax1.set_title("24 held-back recordings of training-b")
ax1.legend(fontsize=8)
ax2.bar(["model\nthreshold", "calibrated"], [macc_raw, macc_cal], color=["grey", "k"])
ax2.set_ylim(0, 1)
ax2.set_ylabel("MAcc (n = 24)")
fig.tight_layout()
plt.show()
