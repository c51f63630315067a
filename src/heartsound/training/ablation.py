"""Ablation of the attention classifiers of Ren et al. 2022 on heartsound's tasks.

Ren, Qian, Dong, Koike, Schuller, Yamamoto, "Deep attention-based neural networks for
explainable heart sound classification", Machine Learning with Applications 9 (2022)
100322, compare CNN / LSTM / GRU bodies, attention pooling against none, sigmoid against
softmax rectification of the attention branch, and random up-sampling of minority
classes. This module runs that comparison with the training code of
:mod:`heartsound.training.classifier` (:func:`~heartsound.training.classifier.cross_validate`,
the same grouped stratified folds, seed and feature cache as the shipped CV) and reports,
per configuration, per patient (CirCor) or per recording (PhysioNet 2016):

* UAR: mean (and SD) over the folds and pooled over all test decisions;
* per-class recall and the pooled confusion matrix (rows true, columns predicted);
* one-vs-rest ROC AUC per class and their mean (macro), from the patient-level probability
  vector of :func:`~heartsound.classification.tasks.aggregate_patient`;
* figures: per configuration the one-vs-rest ROC curves and the confusion matrix.

Run (one training process; torch uses one thread)::

    python -m heartsound.training.ablation --task severity \\
        --root ../shared/data/circor2022 --out docs/results/ablation.json

The JSON is rewritten after every configuration and a rerun skips the configurations it
already holds, so an interrupted run resumes. ``--render`` only redraws the Markdown and
figures from existing JSON files.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

__all__ = ["CONFIGS", "DESIGNS", "run", "summarize", "paired_bootstrap", "render", "main"]

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

_DATASETS = ("physionet2016", "circor2022", "pascal2011")


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


# ----------------------------------------------------------------------------- scoring

def _patient_table(task: str, records: Sequence[Any], folds: Sequence[dict[str, Any]]
                   ) -> list[dict[str, Any]]:
    """Per fold and patient: true label, decision and patient-level probabilities, from
    the recording probabilities and the fold's tuned rules (the same grouping as
    :func:`~heartsound.training.classifier.patient_decisions`)."""
    import numpy as np

    from ..classification.tasks import aggregate_patient, patient_target

    by_key = {f"{r.corpus}/{r.id}": r for r in records}
    rows = []
    for f in folds:
        te = [by_key[k] for k in f["test_ids"]]
        probs = np.asarray(f["probs"])
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(te):
            pid = r.labels.get("patient_id", r.id) if r.corpus == "circor2022" else r.id
            groups.setdefault(str(pid), []).append(i)
        for pid, idx in groups.items():
            t = patient_target(task, te[idx[0]])
            if t is None:
                continue
            lab, pp = aggregate_patient(task, probs[idx], f["rules"])
            rows.append({"fold": int(f["fold"]), "patient": pid, "truth": t, "pred": lab,
                         "probs": [float(x) for x in pp]})
    return rows


def summarize(task: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Scores of one configuration from its :func:`_patient_table` rows.

    Returns
    -------
    dict
        ``n``, ``uar_pooled``, ``uar_folds`` (list), ``uar_mean``, ``uar_sd``, ``recall``
        (per class), ``confusion`` (``labels``, ``matrix``; rows true, columns
        predicted), ``auc`` (one-vs-rest per class, None when a class is absent), and
        ``auc_macro``.
    """
    import numpy as np

    from ..evaluation import metrics
    from ..classification.tasks import LABELS

    labels = list(LABELS[task])
    truth = [r["truth"] for r in rows]
    pred = [r["pred"] for r in rows]
    P = np.array([r["probs"] for r in rows], dtype=np.float64)
    cm = metrics.confusion_matrix(truth, pred, labels)
    support = cm.sum(axis=1)
    recall = {lab: (float(cm[k, k] / support[k]) if support[k] else None)
              for k, lab in enumerate(labels)}
    fold_ids = sorted({r["fold"] for r in rows})
    per_fold = []
    for f in fold_ids:
        t = [r["truth"] for r in rows if r["fold"] == f]
        p = [r["pred"] for r in rows if r["fold"] == f]
        per_fold.append(float(metrics.uar(t, p, labels)))
    auc: dict[str, float | None] = {}
    for k, lab in enumerate(labels):
        y = np.array([t == lab for t in truth])
        auc[lab] = (float(metrics.roc_auc(y, P[:, k])) if 0 < y.sum() < len(y) else None)
    valid = [a for a in auc.values() if a is not None]
    return {"n": len(rows), "uar_pooled": float(metrics.uar(truth, pred, labels)),
            "uar_folds": per_fold, "uar_mean": float(np.mean(per_fold)),
            "uar_sd": float(np.std(per_fold, ddof=1)) if len(per_fold) > 1 else 0.0,
            "recall": recall, "confusion": {"labels": labels, "matrix": cm.tolist()},
            "auc": auc, "auc_macro": float(np.mean(valid)) if valid else None}


# ----------------------------------------------------------------------------- running

def _read_records(roots: Sequence[str | Path], task: str) -> tuple[list[Any], list[str]]:
    """Records of the corpora found in ``roots`` (a corpus folder or a folder holding
    corpus folders) that have a target for ``task``; PASCAL is never trained on."""
    from ..classification.tasks import patient_target
    from ..datasets import read
    from ..errors import DatasetError

    found: dict[str, Path] = {}
    for root in roots:
        p = Path(root)
        for name in _DATASETS:
            if p.name == name:
                found[name] = p
            elif (p / name).is_dir():
                found.setdefault(name, p / name)
    found.pop("pascal2011", None)
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
    from ..errors import ParameterError
    from .classifier import TrainConfig, cross_validate

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
        rows = _patient_table(task, records, folds)
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


# ----------------------------------------------------------------------------- rendering

_SHORT = {"normal": "normal", "mild": "mild", "moderate_severe": "mod/sev",
          "abnormal": "abnormal", "Present": "Present", "Unknown": "Unknown",
          "Absent": "Absent"}


def _fmt(x: float | None, d: int = 3) -> str:
    return "–" if x is None else f"{x:.{d}f}"


def _describe(settings: dict[str, Any]) -> tuple[str, str, str]:
    a = settings["attention"]
    return (settings["model"].upper(), "none (avg pool)" if a is None else a,
            "up-sampling" if settings["upsample"] else "class-weighted loss")


def plot_config(task: str, name: str, entry: dict[str, Any], path: str | Path) -> None:
    """One PNG: one-vs-rest ROC curves per class (+ macro average) and the pooled
    confusion matrix of configuration ``name``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..evaluation import metrics

    s = entry["summary"]
    labels = s["confusion"]["labels"]
    rows = entry["patients"]
    P = np.array([r["probs"] for r in rows])
    truth = [r["truth"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.4), dpi=80)
    grid = np.linspace(0, 1, 101)
    tprs = []
    for k, lab in enumerate(labels):
        y = np.array([t == lab for t in truth])
        if not 0 < y.sum() < len(y):
            continue
        fpr, tpr, _ = metrics.roc_curve(y, P[:, k])
        tprs.append(np.interp(grid, fpr, tpr))
        ax1.plot(fpr, tpr, lw=1.2, label=f"{_SHORT.get(lab, lab)} {s['auc'][lab]:.2f}")
    if len(tprs) > 2:
        ax1.plot(grid, np.mean(tprs, axis=0), "k--", lw=1.2,
                 label=f"macro {s['auc_macro']:.2f}")
    ax1.plot([0, 1], [0, 1], color="0.7", lw=0.8)
    ax1.set(xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1),
            ylim=(0, 1.01), title="ROC, one vs rest (AUC)")
    ax1.legend(fontsize=7, loc="lower right")
    cm = np.array(s["confusion"]["matrix"])
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax2.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax2.text(j, i, f"{cm[i, j]}\n{norm[i, j]:.0%}", ha="center", va="center",
                     fontsize=7, color="white" if norm[i, j] > 0.6 else "black")
    ticks = [_SHORT.get(lab, lab) for lab in labels]
    ax2.set_xticks(range(len(labels)), ticks, fontsize=7)
    ax2.set_yticks(range(len(labels)), ticks, fontsize=7)
    ax2.set(xlabel="predicted", ylabel="true",
            title=f"confusion (pooled), UAR {s['uar_pooled']:.3f}")
    fig.suptitle(f"{task}: {name}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_overview(task: str, data: dict[str, Any], path: str | Path) -> None:
    """Per-fold UAR of every configuration (dots) with the mean (bar)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(data["configs"])
    fig, ax = plt.subplots(figsize=(7.6, 3.2), dpi=80)
    for i, n in enumerate(names):
        s = data["configs"][n]["summary"]
        ax.bar(i, s["uar_mean"], color="tab:blue", alpha=0.35)
        ax.plot(np.full(len(s["uar_folds"]), i), s["uar_folds"], "o", color="tab:blue",
                ms=3)
    chance = 1.0 / len(data["configs"][names[0]]["summary"]["confusion"]["labels"])
    ax.axhline(chance, color="0.5", lw=0.8, ls=":")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
    ax.set(ylabel="UAR per fold", title=f"{task}: UAR per fold (bar = mean; dotted = chance)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _table(task: str, data: dict[str, Any], fig_dir: Path, md_dir: Path) -> list[str]:
    from ..classification.tasks import LABELS

    labels = list(LABELS[task])
    short = [_SHORT.get(lab, lab) for lab in labels]
    meta = data["meta"]
    tr = meta["train"]
    unit = "patients" if task != "abnormal" else "recordings"
    lines = [
        f"## {task}", "",
        f"{meta['k']}-fold grouped stratified CV (seed {meta['seed']}, the folds of the "
        f"shipped CV), corpora {', '.join(meta.get('corpora', []))}; "
        f"scores per {unit[:-1]} over "
        f"{next(iter(data['configs'].values()))['summary']['n']} {unit}. Run started "
        f"{meta.get('started', '?')}, finished {meta.get('finished', '?')}, code commit "
        f"`{meta.get('commit', '?')}`.", "",
        f"Training per fold: CNN widths {tr['widths']} (paper 64/128/256/256), RNN units "
        f"{tr['rnn_units']} (paper 256/1024/256), Adam lr {tr['lr']}, batch "
        f"{tr['batch_size']}, at most {tr['max_epochs']} epochs or {tr['max_minutes']} min "
        f"(checked after each epoch), early stopping patience {tr['patience']} on "
        f"inner-validation UAR ({tr['val_fraction']:.0%} of training patients), "
        f"{tr['crops_per_recording']} random {tr['frontend']['crop_frames']}-frame crops "
        f"per recording per epoch, log-Mel normalisation "
        f"`{tr['frontend'].get('normalize', 'recording')}`, "
        f"augmentation {'on' if tr['augment'] else 'off'}; "
        "aggregation thresholds tuned on the inner validation set.", "",
        "| configuration | body | attention | imbalance | UAR mean ± SD (folds) | "
        "UAR pooled | " + " | ".join(f"recall {s}" for s in short) + " | "
        + " | ".join(f"AUC {s}" for s in short) + " | AUC macro | epochs/fold |",
        "| --- | --- | --- | --- | --- | --- | " + "--- | " * (2 * len(labels)) + "--- | --- |",
    ]
    for name, e in data["configs"].items():
        s = e["summary"]
        body, att, imb = _describe(e["settings"])
        ep = e["epochs"]
        lines.append(
            f"| `{name}` | {body} | {att} | {imb} | {s['uar_mean']:.3f} ± {s['uar_sd']:.3f} | "
            f"{s['uar_pooled']:.3f} | "
            + " | ".join(_fmt(s["recall"][lab]) for lab in labels) + " | "
            + " | ".join(_fmt(s["auc"][lab]) for lab in labels)
            + f" | {_fmt(s['auc_macro'])} | {min(ep)}–{max(ep)} |")
    if task == "murmur":
        from ..evaluation import metrics

        wacc = []
        for name, e in data["configs"].items():
            t = [r["truth"] for r in e["patients"]]
            p = [r["pred"] for r in e["patients"]]
            wacc.append(f"`{name}` {metrics.murmur_weighted_accuracy(t, p):.3f}")
        lines += ["", "PhysioNet 2022 murmur weighted accuracy, pooled over the folds: "
                  + "; ".join(wacc) + "."]
    lines += ["", "Per-fold UAR:", "",
              "| configuration | " + " | ".join(f"fold {i}" for i in range(meta["k"]))
              + " | minutes |", "| --- | " + "--- | " * meta["k"] + "--- |"]
    for name, e in data["configs"].items():
        lines.append(f"| `{name}` | " + " | ".join(f"{u:.3f}" for u in e["summary"]["uar_folds"])
                     + f" | {e['seconds'] / 60:.1f} |")
    names = list(data["configs"])
    if len(names) > 1:
        base = names[0]
        lines += ["", f"Paired differences from `{base}` (same folds and patients): pooled "
                  "UAR difference with a 95% patient-level paired bootstrap interval "
                  "(2000 resamples, seed 0), mean ± SD of the per-fold UAR differences, "
                  "and the folds where the variant is better:", "",
                  "| configuration | Δ UAR pooled [95% CI] | Δ UAR per fold | folds better |",
                  "| --- | --- | --- | --- |"]
        for name in names[1:]:
            d, lo, hi = paired_bootstrap(task, data["configs"][base]["patients"],
                                         data["configs"][name]["patients"])
            fa = data["configs"][base]["summary"]["uar_folds"]
            fb = data["configs"][name]["summary"]["uar_folds"]
            df = [b - a for a, b in zip(fa, fb)]
            sd = (sum((x - sum(df) / len(df)) ** 2 for x in df) / max(len(df) - 1, 1)) ** 0.5
            lines.append(f"| `{name}` | {d:+.3f} [{lo:+.3f}, {hi:+.3f}] | "
                         f"{sum(df) / len(df):+.3f} ± {sd:.3f} | "
                         f"{sum(x > 0 for x in df)}/{len(df)} |")
    lines += ["", "Pooled confusion matrices (rows true, columns predicted, order "
              + ", ".join(short) + "):", "",
              "| configuration | " + " | ".join(f"true {s}" for s in short) + " |",
              "| --- | " + "--- | " * len(labels)]
    for name, e in data["configs"].items():
        m = e["summary"]["confusion"]["matrix"]
        lines.append(f"| `{name}` | " + " | ".join(" / ".join(str(v) for v in row)
                                                 for row in m) + " |")
    lines += ["", "Figures (one-vs-rest ROC curves and pooled confusion matrix):", ""]
    ov = fig_dir / f"ablation_{task}_uar.png"
    lines.append(f"* per-fold UAR: [{ov.name}]({_rel(ov, md_dir)})")
    for name in data["configs"]:
        p = fig_dir / f"ablation_{task}_{_slug(name)}.png"
        lines.append(f"* `{name}`: [{p.name}]({_rel(p, md_dir)})")
    lines.append("")
    return lines


def paired_bootstrap(task: str, rows_a: Sequence[dict[str, Any]],
                     rows_b: Sequence[dict[str, Any]], *, n: int = 2000, seed: int = 0
                     ) -> tuple[float, float, float]:
    """Pooled UAR of ``rows_b`` minus that of ``rows_a`` (the same patients) and its 95%
    percentile interval from a paired bootstrap over patients."""
    import numpy as np

    from ..classification.tasks import LABELS

    labels = list(LABELS[task])
    a = {(r["fold"], r["patient"]): r for r in rows_a}
    keys = [(r["fold"], r["patient"]) for r in rows_b if (r["fold"], r["patient"]) in a]
    t = np.array([labels.index(a[k]["truth"]) for k in keys])
    pa = np.array([labels.index(a[k]["pred"]) for k in keys])
    bmap = {(r["fold"], r["patient"]): r for r in rows_b}
    pb = np.array([labels.index(bmap[k]["pred"]) for k in keys])

    def uar(idx: np.ndarray, p: np.ndarray) -> float:
        tt, pp = t[idx], p[idx]
        rec = [np.mean(pp[tt == c] == c) for c in range(len(labels)) if np.any(tt == c)]
        return float(np.mean(rec))

    full = np.arange(len(t))
    d = uar(full, pb) - uar(full, pa)
    rng = np.random.default_rng(seed)
    ds = []
    for _ in range(n):
        idx = rng.integers(0, len(t), len(t))
        ds.append(uar(idx, pb) - uar(idx, pa))
    lo, hi = np.percentile(ds, [2.5, 97.5])
    return d, float(lo), float(hi)


def _slug(name: str) -> str:
    return name.replace("+", "_")


def _rel(p: Path, base: Path) -> str:
    import os

    return os.path.relpath(p.resolve(), base.resolve())


def render(jsons: Sequence[str | Path], fig_dir: str | Path) -> str:
    """Draw the figures of every JSON result into ``fig_dir`` and return the Markdown
    tables (one section per task, in the order given)."""
    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for j in jsons:
        data = json.loads(Path(j).read_text())
        task = data["meta"]["task"]
        if not data["configs"]:
            continue
        for name, e in data["configs"].items():
            plot_config(task, name, e, fig_dir / f"ablation_{task}_{_slug(name)}.png")
        plot_overview(task, data, fig_dir / f"ablation_{task}_uar.png")
        lines += _table(task, data, fig_dir, Path(j).parent)
        lines += [f"Command: `{data['meta'].get('command', '')}`", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m heartsound.training.ablation",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=("abnormal", "murmur", "severity"), default="severity")
    p.add_argument("--root", action="append", metavar="DIR",
                   help="corpus folder (circor2022 / physionet2016) or a folder holding "
                        "them (default ../shared/data/circor2022)")
    p.add_argument("--out", default="docs/results/ablation.json", metavar="FILE")
    p.add_argument("--configs", nargs="+", metavar="NAME",
                   help=f"configurations (default: the task's design); valid: {', '.join(CONFIGS)}")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=25, help="maximum epochs per fold")
    p.add_argument("--max-minutes", type=float, default=1.0,
                   help="training time limit per fold in minutes (default 1.0)")
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--widths", type=int, nargs=4, default=(16, 32, 64, 64))
    p.add_argument("--rnn-units", type=int, nargs="+", default=(64, 128, 64))
    p.add_argument("--normalize", choices=("recording", "recording_bins", "none"),
                   default="recording",
                   help="per-recording log-Mel normalisation (default recording; the "
                        "shipped abnormal model uses recording_bins)")
    p.add_argument("--render", nargs="+", metavar="JSON",
                   help="only draw figures and print Markdown of these result files")
    p.add_argument("--figures", default="docs/figures", metavar="DIR")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.render:
        print(render(args.render, args.figures))
        return 0
    import torch

    from ..classification.frontend import FrontendConfig

    torch.set_num_threads(1)
    roots = args.root or ["../shared/data/circor2022"]
    recs, corpora = _read_records(roots, args.task)
    configs = args.configs or DESIGNS[args.task]
    cmd = "python -m heartsound.training.ablation " + " ".join(
        sys.argv[1:] if argv is None else list(argv))
    run(args.task, recs, configs, args.out, k=args.k, seed=args.seed, progress=True,
        extra={"command": cmd, "corpora": corpora}, max_epochs=args.epochs,
        max_minutes=args.max_minutes, patience=args.patience, widths=tuple(args.widths),
        rnn_units=tuple(args.rnn_units), frontend=FrontendConfig(normalize=args.normalize))
    return 0


if __name__ == "__main__":
    sys.exit(main())
