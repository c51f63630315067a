"""The Markdown model card of an exported classifier, read from the file itself."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["model_card", "read_metadata"]

_CREDITS = {
    "physionet2016": ("PhysioNet/CinC Challenge 2016 training set (Liu et al., Physiol. Meas. "
                      "37(12), 2016; Clifford et al., CinC 2016), FLAC subset in "
                      "`../shared/data/physionet2016` (1,782 recordings)", "ODC-By 1.0"),
    "circor2022": ("CirCor DigiScope Phonocardiogram Dataset v1.0.3 (Oliveira et al., IEEE "
                   "JBHI 26(6), 2022; PhysioNet, doi:10.13026/tshs-mw03), 583-patient subset "
                   "at 2000 Hz in `../shared/data/circor2022`. Contains information from The "
                   "CirCor DigiScope Phonocardiogram Dataset, made available under the ODC "
                   "Attribution License", "ODC-By 1.0"),
}
_PAPER = ("after Ren et al., \"Deep attention-based neural networks for explainable heart "
          "sound classification\", Machine Learning with Applications 9 (2022) 100322")


def read_metadata(data: bytes) -> dict[str, Any]:
    """The ``heartsound`` metadata (:func:`~.export.bundle_metadata`) of ONNX bytes."""
    import onnx

    props = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    return json.loads(props["heartsound"])


def _architecture(tr: dict[str, Any]) -> tuple[str, str]:
    """Description of the network and its size, from the ``train`` metadata."""
    if tr["model"] == "cnn":
        body = (f"Attention CNN {_PAPER}: four 3x3 conv layers with batch norm, ReLU and 2x2 "
                "max-pooling, then global attention pooling (1x1 conv class maps times a "
                "normalised attention map) and log-softmax. Outputs "
                "`log_probs [batch, n_classes]` and `attention [batch, n_classes, t, f]`.")
        return body, f"widths {tr['widths']}"
    bi = bool(tr.get("bidirectional", False))
    kind = ("bidirectional " if bi else "forward-only ") + tr["model"].upper()
    body = (f"Attention {tr['model'].upper()} {_PAPER}: stacked {kind} "
            f"layers of {tr['rnn_units']} units over the log-Mel frames"
            + (" (forward and backward states concatenated, 2 x units per frame; "
               "Schuster & Paliwal, IEEE Trans. Signal Process. 45(11), 1997)"
               if bi else "")
            + ", then global attention pooling over time (kernel-1 convolutions: "
            "class maps times a normalised attention curve) and log-softmax. Outputs "
            "`log_probs [batch, n_classes]` and `attention [batch, n_classes, t]` "
            "(time only).")
    return body, f"units {tr['rnn_units']}, bidirectional {'yes' if bi else 'no'}"


def _ensemble(k_in: int) -> str:
    return (f" The file holds an **ensemble of {k_in}** such networks (cross-fitting): "
            f"the training patients were split into {k_in} patient-grouped, "
            "target-stratified inner folds, member k was trained on the other folds "
            "and early-stopped on fold k, and the aggregation rules were tuned on the "
            "members' out-of-fold probabilities of every training patient. The ONNX "
            "graph averages the members' log-probabilities (renormalised) and their "
            "attention maps, so its inputs and outputs are those of one network.")


def _input_row(fe: dict[str, Any]) -> str:
    crop_s = ((fe["crop_frames"] - 1) * fe["hop_length"] + fe["n_fft"]) / fe["sr"]
    return (f"| input | log-Mel, {fe['n_mels']} bands {fe['fmin']:g}-{fe['fmax']:g} Hz, "
            f"{fe['sr']} Hz, Hamming {fe['n_fft']} / hop {fe['hop_length']}, "
            f"normalisation `{fe['normalize']}`, crops of {fe['crop_frames']} frames "
            f"({crop_s:.2f} s), hop {fe['crop_hop']} frames at inference"
            + ("; plus 4 phase channels (share of each frame in S1, systole, S2, diastole by "
               "the neural segmenter)" if fe.get("phase_channels") else "") + " |")


def _hyper_row(tr: dict[str, Any], k_in: int) -> str:
    val_desc = (f"of its held-out inner fold (1/{k_in} of patients)" if k_in > 1
                else f"({tr['val_fraction']:.0%} of patients)")
    return (f"| hyper-parameters | Adam lr {tr['lr']}, weight decay {tr['weight_decay']}, batch "
            f"{tr['batch_size']}, up to {tr['max_epochs']} epochs / {tr['max_minutes']} min, "
            f"early stopping (patience {tr['patience']}) on inner-validation "
            f"{'macro AUC' if tr.get('early_stop') == 'auc' else 'UAR'} "
            f"{val_desc}, {tr['crops_per_recording']} random crops "
            f"per recording per epoch, {'up-sampling' if tr['upsample'] else 'class-weighted NLL'}"
            f", augmentation {'on' if tr['augment'] else 'off'}, seed {tr['seed']} |")


def model_card(path: str | Path, *, command: str, metrics_md: str = "",
               commit: str = "") -> str:
    """Markdown model card of an exported ONNX classifier.

    Task, labels, architecture, training data with credit and licence, command,
    hyper-parameters, aggregation rules, metrics and sha256, all read from the file and
    its ``heartsound`` metadata.
    """
    path = Path(path)
    data = path.read_bytes()
    meta = read_metadata(data)
    tr, fe = meta["train"], meta["frontend"]
    body, size = _architecture(tr)
    k_in = int(tr.get("inner_folds", 1))
    if k_in > 1:
        body += _ensemble(k_in)
        size += f", {k_in} members"
    if meta.get("weights") == "float16":
        size += ("; weights stored as float16 and cast to float32 in the graph "
                 "(computation in float32)")
    rules_desc = ("out-of-fold predictions of all training patients" if k_in > 1
                  else "inner validation")
    lines = [
        f"# heartsound classifier `{path.stem}`", "",
        f"Task **{meta['task']}**: labels {', '.join(meta['labels'])} (model output order).",
        "", body, "", "| | |", "| --- | --- |",
        f"| file | `src/heartsound/models/{path.name}` ({len(data) / 1024:.0f} KiB) |",
        f"| sha256 | `{hashlib.sha256(data).hexdigest()}` |",
        f"| architecture | {meta['architecture']}, {size} |",
        _input_row(fe), _hyper_row(tr, k_in),
        f"| aggregation rules (tuned on {rules_desc}, "
        f"`{tr.get('rule_tuning', 'grid')}`) | `{json.dumps(meta['rules'])}` |",
    ]
    if commit:
        lines.append(f"| code commit | `{commit}` |")
    lines += ["", "## Training data", ""]
    for c in meta.get("corpora", []):
        credit, lic = _CREDITS.get(c, (c, "see corpus README"))
        lines.append(f"* {credit}. Licence: {lic}.")
    lines += ["", "PASCAL 2011 was never used for training.", "", "## Command", "",
              "```", command, "```", ""]
    if metrics_md:
        lines += ["## Metrics", "", metrics_md.strip(), ""]
    return "\n".join(lines)
