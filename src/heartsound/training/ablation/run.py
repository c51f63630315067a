"""Running the ablation: cross-validate each configuration of the design and keep the
results in a resumable JSON file (see :mod:`heartsound.training.ablation`)."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...classification.tasks import patient_target
from ...datasets import find_corpora, read
from ...errors import DatasetError, ParameterError
from ..classifier import TrainConfig, cross_validate
from .scoring import patient_table, summarize

__all__ = ["CONFIGS", "DESIGNS", "run", "read_records"]

log = logging.getLogger(__name__)

#: Every configuration by name: ``model``, ``attention`` (None = global average pooling),
#: ``upsample`` (False = class-weighted NLL loss instead).
CONFIGS: dict[str, dict[str, Any]] = {
    f"{m}+{a or 'none'}+{'up' if u else 'weighted'}": {"model": m, "attention": a,
                                                       "upsample": u}
    for m in ("cnn", "lstm", "gru") for a in ("sigmoid", "softmax", None)
    for u in (True, False)
}

#: Default design per task: the baseline CNN + sigmoid attention + up-sampling (the
#: paper's best system), one factor changed at a time, and attention / none for each body.
#: The other tasks compare the baseline with its no-attention twin only.
DESIGNS: dict[str, tuple[str, ...]] = {
    "severity": ("cnn+sigmoid+up", "cnn+none+up", "cnn+softmax+up", "cnn+sigmoid+weighted",
                 "lstm+sigmoid+up", "lstm+none+up", "gru+sigmoid+up", "gru+none+up"),
    "murmur": ("cnn+sigmoid+up", "cnn+none+up"),
    "abnormal": ("cnn+sigmoid+up", "cnn+none+up"),
}

#: Corpora the ablation trains on (PASCAL 2011 never is).
TRAIN_CORPORA = ("physionet2016", "circor2022")


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


# ----------------------------------------------------------------------------- running

def read_records(roots: Sequence[str | Path], task: str) -> tuple[list[Any], list[str]]:
    """Records of the corpora found in ``roots`` (a corpus folder or a folder holding
    corpus folders, :func:`heartsound.datasets.find_corpora`) that have a target for
    ``task``, and the corpus names; PASCAL is never trained on."""
    found = find_corpora(roots, TRAIN_CORPORA)
    if not found:
        raise DatasetError(f"no physionet2016 or circor2022 folder under {', '.join(map(str, roots))}")
    recs = []
    for name, p in sorted(found.items()):
        recs += [r for r in read(name, p) if patient_target(task, r) is not None]
    if not recs:
        raise DatasetError(f"no recordings with a {task!r} target under "
                           f"{', '.join(map(str, roots))}")
    return recs, sorted(found)


def run(task: str, records: Sequence[Any], configs: Sequence[str], out: str | Path, *,
        k: int = 5, seed: int = 0, progress: bool = False, extra: dict[str, Any] | None = None,
        **train_kwargs: Any) -> dict[str, Any]:
    """Cross-validate every configuration and write the results to ``out`` (JSON).

    Parameters
    ----------
    task : {"abnormal", "murmur", "severity"}
    records : sequence of Record
        All records (those without a target are dropped by the CV).
    configs : sequence of str
        Names in :data:`CONFIGS`.
    out : str or Path
        JSON file, rewritten after each configuration; configurations it already holds
        (same task, k, seed and training options) are not rerun.
    k, seed : int
        Folds and seed of :func:`~heartsound.training.classifier.cross_validate` (the
        shipped CV uses ``k=5, seed=0``).
    extra : dict, optional
        Stored under ``meta`` (command, corpora...).
    **train_kwargs
        :class:`~heartsound.training.classifier.TrainConfig` fields shared by every
        configuration (``max_epochs``, ``max_minutes``, ``widths``, ``rnn_units``...).

    Returns
    -------
    dict
        ``meta`` and ``configs`` (name -> ``settings``, ``summary``, ``patients``,
        ``epochs``, ``seconds``).
    """
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise ParameterError(f"unknown configuration(s) {', '.join(unknown)}; valid: "
                             f"{', '.join(CONFIGS)}")
    shared = TrainConfig(task=task, **train_kwargs).to_dict()
    for key in ("model", "attention", "upsample", "task", "seed"):
        shared.pop(key, None)
    out = Path(out)
    meta = {"task": task, "k": k, "seed": seed, "train": shared}
    result: dict[str, Any] = {"meta": dict(meta), "configs": {}}
    if out.exists():
        old = json.loads(out.read_text())
        om = old.get("meta", {})
        if all(om.get(key) == meta[key] for key in ("task", "k", "seed", "train")):
            result = old
        else:
            log.warning("%s holds another setup; starting afresh", out)
    result["meta"].update(extra or {})
    result["meta"].setdefault("started", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    result["meta"].setdefault("commit", _git_commit())
    for name in configs:
        if name in result["configs"]:
            log.info("%s: already done", name)
            continue
        settings = CONFIGS[name]
        log.info("%s: %d-fold CV", name, k)
        t0 = time.time()
        folds = cross_validate(task, records, k=k, seed=seed, progress=progress,
                               **settings, **train_kwargs)
        rows = patient_table(task, records, folds)
        for f in folds:  # the table reproduces cross_validate's decisions
            mine = [r["pred"] for r in rows if r["fold"] == f["fold"]]
            if mine != list(f["pred"]):
                raise RuntimeError(f"{name} fold {f['fold']}: patient decisions differ")
        summary = summarize(task, rows)
        result["configs"][name] = {
            "settings": settings, "summary": summary, "patients": rows,
            "epochs": [int(f["epochs"]) for f in folds],
            "rules": [f["rules"] for f in folds],
            "seconds": round(time.time() - t0, 1)}
        result["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result))
        tmp.replace(out)
        log.info("%s: UAR mean %.3f pooled %.3f macro AUC %s (%.0f s)", name,
                 summary["uar_mean"], summary["uar_pooled"], summary["auc_macro"],
                 time.time() - t0)
    return result


