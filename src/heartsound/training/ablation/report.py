"""Rendering ablation results: Markdown tables and figures (ROC curves, confusion
matrices, per-fold UAR) from the JSON files :func:`~.run.run` writes."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...classification.tasks import LABELS
from ...evaluation import metrics
from .scoring import paired_bootstrap

__all__ = ["plot_config", "plot_overview", "render"]

_SHORT = {"normal": "normal", "mild": "mild", "moderate_severe": "mod/sev",
          "abnormal": "abnormal", "Present": "Present", "Unknown": "Unknown",
          "Absent": "Absent"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fmt(x: float | None, d: int = 3) -> str:
    return "–" if x is None else f"{x:.{d}f}"


def _describe(settings: dict[str, Any]) -> tuple[str, str, str]:
    a = settings["attention"]
    return (settings["model"].upper(), "none (avg pool)" if a is None else a,
            "up-sampling" if settings["upsample"] else "class-weighted loss")


def _slug(name: str) -> str:
    return name.replace("+", "_")


def _rel(p: Path, base: Path) -> str:
    return os.path.relpath(p.resolve(), base.resolve())


def _roc_panel(ax: Any, s: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    labels = s["confusion"]["labels"]
    P = np.array([r["probs"] for r in rows])
    truth = [r["truth"] for r in rows]
    grid = np.linspace(0, 1, 101)
    tprs = []
    for k, lab in enumerate(labels):
        y = np.array([t == lab for t in truth])
        if not 0 < y.sum() < len(y):
            continue
        fpr, tpr, _ = metrics.roc_curve(y, P[:, k])
        tprs.append(np.interp(grid, fpr, tpr))
        ax.plot(fpr, tpr, lw=1.2, label=f"{_SHORT.get(lab, lab)} {s['auc'][lab]:.2f}")
    if len(tprs) > 2:
        ax.plot(grid, np.mean(tprs, axis=0), "k--", lw=1.2, label=f"macro {s['auc_macro']:.2f}")
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1),
           ylim=(0, 1.01), title="ROC, one vs rest (AUC)")
    ax.legend(fontsize=7, loc="lower right")


def _confusion_panel(ax: Any, s: dict[str, Any]) -> None:
    labels = s["confusion"]["labels"]
    cm = np.array(s["confusion"]["matrix"])
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{cm[i, j]}\n{norm[i, j]:.0%}", ha="center", va="center",
                    fontsize=7, color="white" if norm[i, j] > 0.6 else "black")
    ticks = [_SHORT.get(lab, lab) for lab in labels]
    ax.set_xticks(range(len(labels)), ticks, fontsize=7)
    ax.set_yticks(range(len(labels)), ticks, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title=f"confusion (pooled), UAR {s['uar_pooled']:.3f}")


def plot_config(task: str, name: str, entry: dict[str, Any], path: str | Path) -> None:
    """One PNG: one-vs-rest ROC curves per class (+ macro average) and the pooled
    confusion matrix of configuration ``name``."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 3.4), dpi=80)
    _roc_panel(ax1, entry["summary"], entry["patients"])
    _confusion_panel(ax2, entry["summary"])
    fig.suptitle(f"{task}: {name}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_overview(task: str, data: dict[str, Any], path: str | Path) -> None:
    """Per-fold UAR of every configuration (dots) with the mean (bar)."""
    plt = _pyplot()
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


def _intro(task: str, data: dict[str, Any]) -> list[str]:
    meta = data["meta"]
    tr = meta["train"]
    unit = "patients" if task != "abnormal" else "recordings"
    n = next(iter(data["configs"].values()))["summary"]["n"]
    return [
        f"## {task}", "",
        f"{meta['k']}-fold grouped stratified CV (seed {meta['seed']}, the folds of the "
        f"shipped CV), corpora {', '.join(meta.get('corpora', []))}; "
        f"scores per {unit[:-1]} over {n} {unit}. Run started "
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
        "aggregation thresholds tuned on the inner validation set.", ""]


def _summary_table(task: str, data: dict[str, Any]) -> list[str]:
    labels = list(LABELS[task])
    short = [_SHORT.get(lab, lab) for lab in labels]
    lines = [
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
        wacc = []
        for name, e in data["configs"].items():
            t = [r["truth"] for r in e["patients"]]
            p = [r["pred"] for r in e["patients"]]
            wacc.append(f"`{name}` {metrics.murmur_weighted_accuracy(t, p):.3f}")
        lines += ["", "PhysioNet 2022 murmur weighted accuracy, pooled over the folds: "
                  + "; ".join(wacc) + "."]
    return lines


def _fold_table(data: dict[str, Any]) -> list[str]:
    k = data["meta"]["k"]
    lines = ["", "Per-fold UAR:", "",
             "| configuration | " + " | ".join(f"fold {i}" for i in range(k)) + " | minutes |",
             "| --- | " + "--- | " * k + "--- |"]
    for name, e in data["configs"].items():
        lines.append(f"| `{name}` | " + " | ".join(f"{u:.3f}" for u in e["summary"]["uar_folds"])
                     + f" | {e['seconds'] / 60:.1f} |")
    return lines


def _paired_table(task: str, data: dict[str, Any]) -> list[str]:
    names = list(data["configs"])
    if len(names) < 2:
        return []
    base = names[0]
    lines = ["", f"Paired differences from `{base}` (same folds and patients): pooled "
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
    return lines


def _confusion_table(task: str, data: dict[str, Any]) -> list[str]:
    labels = list(LABELS[task])
    short = [_SHORT.get(lab, lab) for lab in labels]
    lines = ["", "Pooled confusion matrices (rows true, columns predicted, order "
             + ", ".join(short) + "):", "",
             "| configuration | " + " | ".join(f"true {s}" for s in short) + " |",
             "| --- | " + "--- | " * len(labels)]
    for name, e in data["configs"].items():
        m = e["summary"]["confusion"]["matrix"]
        lines.append(f"| `{name}` | " + " | ".join(" / ".join(str(v) for v in row)
                                                 for row in m) + " |")
    return lines


def _figure_list(task: str, data: dict[str, Any], fig_dir: Path, md_dir: Path) -> list[str]:
    ov = fig_dir / f"ablation_{task}_uar.png"
    lines = ["", "Figures (one-vs-rest ROC curves and pooled confusion matrix):", "",
             f"* per-fold UAR: [{ov.name}]({_rel(ov, md_dir)})"]
    for name in data["configs"]:
        p = fig_dir / f"ablation_{task}_{_slug(name)}.png"
        lines.append(f"* `{name}`: [{p.name}]({_rel(p, md_dir)})")
    return lines + [""]


def _table(task: str, data: dict[str, Any], fig_dir: Path, md_dir: Path) -> list[str]:
    """The Markdown section of one task's results."""
    return (_intro(task, data) + _summary_table(task, data) + _fold_table(data)
            + _paired_table(task, data) + _confusion_table(task, data)
            + _figure_list(task, data, fig_dir, md_dir))


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
