"""Training the attention CNN / RNN heart-sound classifiers (PyTorch) and exporting them
to ONNX for :mod:`heartsound.classification`.

Implements Ren, Qian, Dong, Koike, Schuller, Yamamoto, "Deep attention-based neural networks
for explainable heart sound classification", Machine Learning with Applications 9 (2022)
100322, from the paper's description:

* CNN: four 3x3 conv layers (paper 64/128/256/256 channels; widths are a parameter), each
  with batch norm, ReLU and 2x2 max-pooling (``time_pool`` can keep more time resolution
  for the attention map, e.g. ``(2, 2, 1, 1)``), then *global attention pooling*: a 1x1 conv
  gives one map per class (branch A), a second 1x1 conv rectified by sigmoid or softmax and
  normalised to sum to one over time x frequency gives the attention (branch B); the sum
  of A * B over the map is the class vector; log-softmax; NLL loss.
* LSTM / GRU: stacked recurrent layers (paper 256/1024/256 units) over time with the same
  attention head as 1-D convolutions of kernel 1 over time. ``bidirectional=True`` runs
  each layer forwards and backwards in time (Schuster & Paliwal, "Bidirectional recurrent
  neural networks", IEEE Trans. Signal Process. 45(11), 1997) and concatenates the two
  states (2 x units features per frame), so the state at a frame, and the attention on it,
  can use the sound after that frame too (a forward-only RNN's attention lags the evidence).
* ``attention=None``: global average pooling of branch A (the paper's "no attention").
* Adam, batch 32, optional random up-sampling of minority classes, otherwise class-weighted
  NLL.

Only this module (and ``heartsound.training``) imports torch. Everything is callable from
Python: :func:`train` for one model, :func:`cross_validate` for grouped k-fold
predictions, :func:`export_onnx` to ship a model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..classification.frontend import FrontendConfig, crops, features as frontend_features
from ..classification.tasks import (DEFAULT_RULES, LABELS, aggregate_patient, check_task,
                                    patient_target, recording_target)
from ..errors import ParameterError

__all__ = ["TrainConfig", "Trained", "build_model", "feature_cache", "train",
           "predict_records", "cross_validate", "tune_rules", "export_onnx", "MODELS",
           "ATTENTIONS", "RULE_TUNINGS", "EARLY_STOPS", "retune_cv"]

log = logging.getLogger(__name__)

MODELS = ("cnn", "lstm", "gru")
#: Inner-validation score for early stopping: recording UAR of the arg-max decisions, or
#: the threshold-free macro one-vs-rest ROC AUC of the recording probabilities.
EARLY_STOPS = ("uar", "auc")
ATTENTIONS = ("sigmoid", "softmax", None)
BALANCES = (None, "database")


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (all stored in the model card and ONNX)."""

    task: str = "abnormal"
    model: str = "cnn"
    attention: str | None = "sigmoid"
    upsample: bool = False
    widths: tuple[int, ...] = (16, 32, 64, 64)
    time_pool: tuple[int, ...] = (2, 2, 2, 2)
    rnn_units: tuple[int, ...] = (64, 128, 64)
    #: LSTM/GRU only: bidirectional recurrent layers (forward and backward states
    #: concatenated, so the next layer and the attention head see 2 x units features).
    bidirectional: bool = False
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 30
    patience: int = 5
    crops_per_recording: int = 2
    val_fraction: float = 0.15
    seed: int = 0
    augment: bool = True
    max_minutes: float = 6.0
    rule_tuning: str = "grid"
    early_stop: str = "uar"
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    #: None, or "database": each epoch draws recordings so that every (database, class)
    #: cell weighs the same (PhysioNet 2016 databases a-f and each other corpus are
    #: databases); the loss is then unweighted.
    balance: str | None = None
    #: 1: one network, early-stopped and its rules tuned on a ``val_fraction`` split.
    #: K > 1: cross-fitting, an ensemble of K networks, each trained on K-1 of K
    #: patient-grouped inner folds and early-stopped on the remaining one; the rules are
    #: tuned on the out-of-fold probabilities of *all* training patients, and the ensemble
    #: averages the members' log-probabilities (see :func:`train`).
    inner_folds: int = 1
    #: Weight of domain-adversarial training (Ganin & Lempitsky, "Unsupervised domain
    #: adaptation by backpropagation", ICML 2015): a linear head predicts the recording's
    #: database (:func:`_database`) from the time/frequency-averaged body features through
    #: a gradient-reversal layer, so the body is pushed to features that do not identify
    #: the database. The reversal weight ramps 0 -> this value as 2 / (1 + exp(-10 p)) - 1
    #: over the epochs (p = epoch / max_epochs). 0 = off; the head is not exported.
    domain_adversarial: float = 0.0

    def __post_init__(self) -> None:
        check_task(self.task)
        if self.domain_adversarial < 0:
            raise ParameterError("domain_adversarial must be >= 0, got "
                                 f"{self.domain_adversarial}")
        if self.inner_folds < 1:
            raise ParameterError(f"inner_folds must be >= 1, got {self.inner_folds}")
        if self.balance not in BALANCES:
            raise ParameterError(f"unknown balance {self.balance!r}; valid: database, None")
        if self.balance is not None and self.upsample:
            raise ParameterError("balance and upsample are exclusive: both resample the "
                                 "training recordings")
        if self.model not in MODELS:
            raise ParameterError(f"unknown model {self.model!r}; valid: {', '.join(MODELS)}")
        if self.frontend.phase_channels and self.model == "cnn":
            raise ParameterError("phase channels apply to the lstm and gru models only, "
                                 "not cnn (they are not a frequency axis)")
        if self.bidirectional and self.model == "cnn":
            raise ParameterError("bidirectional applies to the lstm and gru models only, "
                                 "not cnn")
        if self.attention not in ATTENTIONS:
            raise ParameterError(f"unknown attention {self.attention!r}; valid: sigmoid, "
                                 "softmax, None")
        if self.early_stop not in EARLY_STOPS:
            raise ParameterError(f"unknown early-stopping score {self.early_stop!r}; valid: "
                                 f"{', '.join(EARLY_STOPS)}")
        if self.rule_tuning not in RULE_TUNINGS:
            raise ParameterError(f"unknown rule tuning {self.rule_tuning!r}; valid: "
                                 f"{', '.join(RULE_TUNINGS)}")

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "frontend"}
        d["widths"] = list(self.widths)
        d["time_pool"] = list(self.time_pool)
        d["rnn_units"] = list(self.rnn_units)
        d["frontend"] = self.frontend.to_dict()
        if self.balance is None:  # results and models from before the option compare equal
            d.pop("balance")
        if not self.bidirectional and self.model == "cnn":  # idem (RNNs always record it)
            d.pop("bidirectional")
        if self.inner_folds == 1:  # idem
            d.pop("inner_folds")
        if not self.domain_adversarial:  # idem
            d.pop("domain_adversarial")
        return d


# ----------------------------------------------------------------------------- models

def _torch():
    import torch

    torch.set_num_threads(1)
    return torch


def build_model(config: TrainConfig) -> Any:
    """The torch module for ``config``: input ``[batch, frames, mels]``, outputs
    ``(log_probs [batch, n_classes], attention [batch, n_classes, t, f])`` for the CNN or
    ``attention [batch, n_classes, t]`` for the RNNs."""
    torch = _torch()
    nn = torch.nn
    n_cls = len(LABELS[config.task])

    class AttentionHead(nn.Module):
        """Global attention pooling (Ren et al. 2022, Sec. 3): A = conv1x1(h), B = norm(
        rect(conv1x1(h))), class vector = sum(A * B)."""

        def __init__(self, c: int, dims: int) -> None:
            super().__init__()
            conv = nn.Conv2d if dims == 2 else nn.Conv1d
            self.cla = conv(c, n_cls, 1)
            self.att = conv(c, n_cls, 1)
            self.mode = config.attention

        def forward(self, h):  # h [B, C, *map]
            a = self.cla(h)
            shape = a.shape
            af = a.flatten(2)
            if self.mode is None:
                w = torch.full_like(af, 1.0 / af.shape[-1])
            elif self.mode == "softmax":
                w = torch.softmax(self.att(h).flatten(2), dim=-1)
            else:
                s = torch.sigmoid(self.att(h).flatten(2))
                w = s / (s.sum(dim=-1, keepdim=True) + 1e-7)
            out = (af * w).sum(-1)
            return torch.log_softmax(out, dim=-1), w.reshape(shape)

    class CNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers, c_in = [], 1
            for c, tp in zip(config.widths, config.time_pool):
                layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                           nn.ReLU(), nn.MaxPool2d((tp, 2))]
                c_in = c
            self.body = nn.Sequential(*layers)
            self.drop = nn.Dropout(0.2)
            self.head = AttentionHead(c_in, 2)

        def _body(self, x):
            return self.drop(self.body(x.unsqueeze(1)))

        def features(self, x):
            """(log_probs, attention, body features averaged over the map [B, C])."""
            h = self._body(x)
            lp, w = self.head(h)
            return lp, w, h.mean(dim=(2, 3))

        def forward(self, x):
            return self.head(self._body(x))

    class RNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            cell = nn.LSTM if config.model == "lstm" else nn.GRU
            self.rnns = nn.ModuleList()
            d = config.frontend.n_features
            n_dir = 2 if config.bidirectional else 1
            for u in config.rnn_units:
                self.rnns.append(cell(d, u, batch_first=True,
                                      bidirectional=config.bidirectional))
                d = n_dir * u
            self.drop = nn.Dropout(0.2)
            self.head = AttentionHead(d, 1)

        def _body(self, x):
            h = x
            for r in self.rnns:
                h, _ = r(h)
            return self.drop(h).transpose(1, 2)

        def features(self, x):
            """(log_probs, attention, body features averaged over time [B, C])."""
            h = self._body(x)
            lp, w = self.head(h)
            return lp, w, h.mean(dim=2)

        def forward(self, x):
            return self.head(self._body(x))

    return CNN() if config.model == "cnn" else RNN()


def _feature_dim(config: TrainConfig) -> int:
    """Size of the body features :func:`build_model`'s ``features`` returns."""
    if config.model == "cnn":
        return int(config.widths[-1])
    return int(config.rnn_units[-1]) * (2 if config.bidirectional else 1)


def gradient_reversal(x: Any, weight: float) -> Any:
    """Identity forward; backward multiplies the gradient by ``-weight`` (Ganin &
    Lempitsky 2015)."""
    torch = _torch()

    class _Reverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v):
            return v.view_as(v)

        @staticmethod
        def backward(ctx, g):
            return -weight * g

    return _Reverse.apply(x)


def ensemble_module(members: Sequence[Any]) -> Any:
    """One torch module averaging ``members`` (each as :func:`build_model`): the
    log-probabilities are the renormalised mean of the members' log-probabilities (a
    geometric mean of probabilities, as crops are pooled at inference) and the attention
    map is the members' mean, so the module has the same inputs and outputs as one
    member and exports to the same ONNX signature."""
    torch = _torch()

    class Ensemble(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = torch.nn.ModuleList(members)

        def forward(self, x):
            outs = [m(x) for m in self.members]
            lp = torch.stack([o[0] for o in outs]).mean(0)
            att = torch.stack([o[1] for o in outs]).mean(0)
            return torch.log_softmax(lp, dim=-1), att

    return Ensemble()


# ----------------------------------------------------------------------------- features

def _cache_dir() -> Path:
    from ..example import cache_dir

    d = cache_dir() / "classifier-features"
    d.mkdir(parents=True, exist_ok=True)
    return d


def feature_cache(records: Sequence[Any], frontend: FrontendConfig = FrontendConfig()
                  ) -> dict[str, np.ndarray]:
    """Model inputs of every record (``{record.corpus/record.id: [frames, n_features]}``),
    computed with :func:`~heartsound.classification.frontend.features` and cached as
    ``.npy`` under ``classifier-features/`` of :func:`heartsound.example.cache_dir`
    (``$HEARTSOUND_CACHE``, else ``~/.cache/heartsound``), keyed by the front end and, with
    phase channels, by the sha256 of the shipped segmenter that computes them."""
    from ..io import load

    ident = frontend.to_dict()
    if frontend.phase_channels:  # the phases depend on the segmenter: a new one, a new cache
        from ..segmentation.neural import load_model

        ident["segmenter_sha256"] = load_model().sha256
    key = hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:10]
    out: dict[str, np.ndarray] = {}
    by_corpus: dict[str, list[Any]] = {}
    for r in records:
        by_corpus.setdefault(r.corpus, []).append(r)
    for corpus, recs in by_corpus.items():
        base = _cache_dir() / f"{corpus}_{key}"
        index_path = base.with_suffix(".json")
        index = json.loads(index_path.read_text()) if index_path.exists() else {}
        missing = [r for r in recs if r.id not in index]
        if missing:
            old = (np.load(base.with_suffix(".npy")) if index
                   else np.zeros((0, frontend.n_features), np.float32))
            parts, off = [old], old.shape[0]
            for r in missing:
                rec = load(r.audio_path, min_duration_s=0.0)
                m = frontend_features(rec.y, rec.sr, frontend)
                index[r.id] = [off, off + m.shape[0]]
                off += m.shape[0]
                parts.append(m)
            np.save(base.with_suffix(".npy"), np.concatenate(parts))
            index_path.write_text(json.dumps(index))
        arr = np.load(base.with_suffix(".npy"), mmap_mode="r")
        for r in recs:
            a, b = index[r.id]
            out[f"{corpus}/{r.id}"] = np.asarray(arr[a:b])
    return out


def _key(r: Any) -> str:
    return f"{r.corpus}/{r.id}"


# ----------------------------------------------------------------------------- training

@dataclass
class Trained:
    """A trained model with what is needed to export and evaluate it."""

    model: Any
    config: TrainConfig
    rules: dict[str, float]
    history: list[dict[str, float]]
    val_ids: list[str]
    #: Probabilities of ``val_ids`` by the network(s) that did not train on them (set for
    #: cross-fitted ensembles, whose full-ensemble predictions of them would be in-sample).
    val_probs: np.ndarray | None = None

    def predict(self, records: Sequence[Any], features: dict[str, np.ndarray] | None = None
                ) -> np.ndarray:
        """Recording-level class probabilities ``[n_records, n_classes]``."""
        return predict_records(self.model, records, self.config, features)


def _split_val(records: Sequence[Any], targets: list[str], frac: float, seed: int
               ) -> tuple[list[int], list[int]]:
    """Group-aware stratified inner split (by patient target)."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(r.group, []).append(i)
    by_label: dict[str, list[str]] = {}
    for g, idx in groups.items():
        by_label.setdefault(str(targets[idx[0]]), []).append(g)
    val_groups: set[str] = set()
    for lab, gs in sorted(by_label.items()):
        gs = sorted(gs)
        rng.shuffle(gs)
        val_groups.update(gs[:max(1, int(round(frac * len(gs))))])
    tr = [i for i, r in enumerate(records) if r.group not in val_groups]
    va = [i for i, r in enumerate(records) if r.group in val_groups]
    return tr, va


def _augment(x: np.ndarray, rng: np.random.Generator, n_mels: int | None = None
             ) -> np.ndarray:
    """Gain/tilt change (a random linear spectral tilt across Mel bins, i.e. a different
    stethoscope response), band-limit (random top bands attenuated) and SpecAugment-style
    time and frequency masks, on the first ``n_mels`` columns (default all); further
    columns (phase channels) are left as they are."""
    out = x.copy()
    x = out[:, :, :n_mels]  # a view: the changes below land in ``out``
    b, t, f = x.shape
    tilt = rng.normal(0, 0.3, size=(b, 1, 1)) * np.linspace(-1, 1, f)[None, None, :]
    x += tilt.astype(np.float32)
    for i in range(b):
        if rng.random() < 0.3:  # band limit: device with a lower cut-off
            cut = int(rng.integers(f // 2, f))
            x[i, :, cut:] = x[i, :, cut:].min()
        if rng.random() < 0.5:
            w = int(rng.integers(1, f // 8))
            s = int(rng.integers(0, f - w))
            x[i, :, s:s + w] = 0.0
        if rng.random() < 0.5:
            w = int(rng.integers(1, t // 8))
            s = int(rng.integers(0, t - w))
            x[i, s:s + w, :] = 0.0
    return out


def _random_crop(feat: np.ndarray, L: int, rng: np.random.Generator) -> np.ndarray:
    n = feat.shape[0]
    if n <= L:
        return crops(feat, FrontendConfig(crop_frames=L, crop_hop=L))[0][0]
    s = int(rng.integers(0, n - L + 1))
    return feat[s:s + L]


def predict_records(model: Any, records: Sequence[Any], config: TrainConfig,
                    features: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Recording-level probabilities: mean of crop log-probabilities over all crops of
    the recording (the same pooling as inference), softmax-renormalised."""
    torch = _torch()
    feats = features if features is not None else feature_cache(records, config.frontend)
    model.eval()
    out = []
    with torch.no_grad():
        for r in records:
            batch, _ = crops(feats[_key(r)], config.frontend)
            lp, _ = model(torch.from_numpy(batch))
            m = lp.numpy().mean(axis=0)
            e = np.exp(m - m.max())
            out.append(e / e.sum())
    return np.array(out)


def _database(r: Any) -> str:
    """The recording device / site a record comes from: the PhysioNet 2016 database
    letter (``physionet2016/a``...), otherwise the corpus name."""
    if r.corpus == "physionet2016":
        return f"{r.corpus}/{r.labels.get('database')}"
    return str(r.corpus)


def balanced_indices(domains: Sequence[str], y: np.ndarray, n: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` indices (with replacement) so that every (domain, class) cell present
    has the same expected count ``n / n_cells``.

    Parameters
    ----------
    domains : sequence of str [shape=(n_records,)]
        Domain (database) of each record.
    y : np.ndarray [shape=(n_records,)]
        Class index of each record.
    n : int
        Number of indices to draw.
    rng : np.random.Generator

    Returns
    -------
    np.ndarray [shape=(n,)]
    """
    cells = [f"{d}\x00{int(c)}" for d, c in zip(domains, y)]
    names, inv, counts = np.unique(cells, return_inverse=True, return_counts=True)
    p = 1.0 / (len(names) * counts[inv])
    return rng.choice(len(cells), size=n, p=p / p.sum())


def _uar(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> float:
    rec = [np.mean(y_pred[y_true == k] == k) for k in range(n) if np.any(y_true == k)]
    return float(np.mean(rec)) if rec else 0.0


def _macro_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean one-vs-rest ROC AUC over the classes present (and absent somewhere)."""
    from ..evaluation.classification import binary_auc

    aucs = [binary_auc(y_true == k, probs[:, k]) for k in range(probs.shape[1])]
    aucs = [a for a in aucs if a is not None]
    return float(np.mean(aucs)) if aucs else 0.0


def train(task: str = "abnormal", model: str = "cnn", attention: str | None = "sigmoid",
          upsample: bool = False, train_records: Sequence[Any] = (), *,
          val_records: Sequence[Any] | None = None,
          features: dict[str, np.ndarray] | None = None,
          progress: bool = False, jobs: int = 1, **hyper: Any) -> Trained:
    """Train one classifier.

    Parameters
    ----------
    task : {"abnormal", "murmur", "severity"}
    model : {"cnn", "lstm", "gru"}
    attention : {"sigmoid", "softmax", None}
        Normalisation of the attention branch; None = global average pooling.
    upsample : bool
        Randomly repeat minority-class recordings each epoch until classes are balanced
        (otherwise the NLL loss is weighted by inverse class frequency, unless
        ``balance="database"`` is given in ``hyper``: see :class:`TrainConfig`).
    train_records : sequence of Record
        Training recordings (records without a target for ``task`` are skipped).
    val_records : sequence of Record, optional
        Inner validation recordings for early stopping and rule tuning; default: a
        group-stratified ``val_fraction`` of ``train_records``.
    features : dict, optional
        Precomputed :func:`feature_cache` output.
    jobs : int
        With ``inner_folds`` > 1: members trained at the same time, each in its own
        process with one torch thread (same results; the wall-clock cap ``max_minutes``
        applies per member).
    **hyper
        Any :class:`TrainConfig` field (``widths``, ``max_epochs``, ``frontend``...).

    Returns
    -------
    Trained
    """
    torch = _torch()
    cfg = TrainConfig(task=task, model=model, attention=attention, upsample=upsample, **hyper)
    labels = LABELS[task]
    recs = [r for r in train_records if recording_target(task, r) is not None]
    if cfg.inner_folds > 1:
        if val_records is not None:
            raise ParameterError("inner_folds > 1 makes its own validation folds; "
                                 "val_records cannot be given")
        return _train_crossfit(cfg, recs, features, progress, jobs)
    if val_records is None:
        pts = [patient_target(task, r) for r in recs]
        tr_i, va_i = _split_val(recs, pts, cfg.val_fraction, cfg.seed)
        val = [recs[i] for i in va_i]
        recs = [recs[i] for i in tr_i]
    else:
        val = [r for r in val_records if patient_target(task, r) is not None]
    if not recs:
        raise ParameterError(f"no training recordings with a {task!r} target")
    feats = features if features is not None else feature_cache(list(recs) + list(val),
                                                                cfg.frontend)
    y = np.array([labels.index(recording_target(task, r)) for r in recs])
    counts = np.bincount(y, minlength=len(labels)).astype(float)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    net = build_model(cfg)
    if cfg.upsample or cfg.balance is not None:
        weight = None
    else:
        weight = torch.tensor(counts.sum() / np.maximum(counts, 1) / len(labels),
                              dtype=torch.float32)
    loss_fn = torch.nn.NLLLoss(weight=weight)
    params = list(net.parameters())
    dom_head = None
    if cfg.domain_adversarial > 0:
        dom_names = sorted({_database(r) for r in recs})
        if len(dom_names) < 2:
            raise ParameterError("domain_adversarial needs training recordings from at "
                                 f"least two databases, got {dom_names}")
        dom = np.array([dom_names.index(_database(r)) for r in recs])
        dom_head = torch.nn.Linear(_feature_dim(cfg), len(dom_names))
        params += list(dom_head.parameters())
        dom_loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    val_recording = [r for r in val if recording_target(task, r) is not None]
    yv = np.array([labels.index(recording_target(task, r)) for r in val_recording])
    best, best_state, bad, history = -1.0, None, 0, []
    t0 = time.time()
    L = cfg.frontend.crop_frames
    for epoch in range(cfg.max_epochs):
        net.train()
        idx = np.arange(len(recs))
        if cfg.balance == "database":
            idx = balanced_indices([_database(r) for r in recs], y, len(recs), rng)
        elif cfg.upsample:
            parts = []
            for k in range(len(labels)):
                ik = idx[y == k]
                if len(ik):
                    parts.append(np.concatenate([ik, rng.choice(ik, int(counts.max()) - len(ik))]))
            idx = np.concatenate(parts)
        idx = np.repeat(idx, cfg.crops_per_recording)
        rng.shuffle(idx)
        tot = 0.0
        for s in range(0, len(idx), cfg.batch_size):
            bi = idx[s:s + cfg.batch_size]
            xb = np.stack([_random_crop(feats[_key(recs[i])], L, rng) for i in bi])
            if cfg.augment:
                xb = _augment(xb, rng, cfg.frontend.n_mels)
            if dom_head is None:
                lp, _ = net(torch.from_numpy(xb))
                loss = loss_fn(lp, torch.from_numpy(y[bi]))
            else:
                lp, _, h = net.features(torch.from_numpy(xb))
                ramp = 2.0 / (1.0 + np.exp(-10.0 * epoch / cfg.max_epochs)) - 1.0
                d_logits = dom_head(gradient_reversal(h, cfg.domain_adversarial * ramp))
                loss = loss_fn(lp, torch.from_numpy(y[bi])) + dom_loss_fn(
                    d_logits, torch.from_numpy(dom[bi]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(bi)
        pv = predict_records(net, val_recording, cfg, feats) if len(val_recording) else None
        if pv is None:
            score = -float(tot)
        elif cfg.early_stop == "auc":
            score = _macro_auc(yv, pv)
        else:
            score = _uar(yv, pv.argmax(1), len(labels))
        history.append({"epoch": epoch, "loss": tot / len(idx), "val_score": score,
                        "val_metric": cfg.early_stop, "seconds": time.time() - t0})
        log.info("epoch %d loss %.4f val %s %.4f (%.0f s)", epoch, tot / len(idx),
                 cfg.early_stop.upper(), score, time.time() - t0)
        if progress:
            print(json.dumps(history[-1]), flush=True)
        if score > best:
            best, bad = score, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
        if bad >= cfg.patience or (time.time() - t0) / 60 > cfg.max_minutes:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    rules = dict(DEFAULT_RULES[task])
    if val:
        rules = tune_rules(task, val, predict_records(net, val, cfg, feats),
                           cfg.rule_tuning, seed=cfg.seed)
    return Trained(model=net, config=cfg, rules=rules, history=history,
                   val_ids=[_key(r) for r in val])


def _train_member(cfg: TrainConfig, tr_recs: list[Any], val: list[Any],
                  feats: dict[str, np.ndarray], progress: bool
                  ) -> tuple[Any, list[dict[str, Any]], np.ndarray]:
    """One cross-fitting member: its weights (``state_dict``; the network classes are
    local to :func:`build_model`, so modules do not pickle across processes), history and
    probabilities on ``val``."""
    import dataclasses

    member_cfg = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
                  if f.name not in ("task", "model", "attention", "upsample", "inner_folds")}
    m = train(cfg.task, cfg.model, cfg.attention, cfg.upsample, tr_recs, val_records=val,
              features=feats, progress=progress, **member_cfg)
    return m.model.state_dict(), m.history, m.predict(val, feats)


def _train_crossfit(cfg: TrainConfig, recs: Sequence[Any],
                    features: dict[str, np.ndarray] | None, progress: bool,
                    jobs: int = 1) -> Trained:
    """Cross-fitting (``cfg.inner_folds`` = K > 1): K members, member k trained on the
    patient-grouped, target-stratified inner folds other than k and early-stopped on fold
    k; the aggregation rules are tuned on the out-of-fold probabilities of every training
    patient (K times the patients of one ``val_fraction`` split), and the returned model
    is the members' ensemble (:func:`ensemble_module`)."""
    if not recs:
        raise ParameterError(f"no training recordings with a {cfg.task!r} target")
    feats = features if features is not None else feature_cache(recs, cfg.frontend)
    folds = _grouped_folds(cfg.task, recs, cfg.inner_folds, cfg.seed)
    args = [(cfg, [recs[i] for i in tr], [recs[i] for i in va], feats, progress)
            for tr, va in folds]
    results = _map_jobs(_train_member, args, jobs)
    members, history, oob_recs, oob_probs = [], [], [], []
    for k, ((state_k, hist_k, probs_k), a) in enumerate(zip(results, args)):
        net_k = build_model(cfg)
        net_k.load_state_dict(state_k)
        members.append(net_k.eval())
        history += [dict(h, member=k) for h in hist_k]
        oob_recs += a[2]
        oob_probs.append(probs_k)
        log.info("member %d/%d: %d epochs, best inner score %.4f", k + 1, len(folds),
                 len(hist_k), max((h["val_score"] for h in hist_k), default=float("nan")))
    probs = np.concatenate(oob_probs)
    rules = tune_rules(cfg.task, oob_recs, probs, cfg.rule_tuning, seed=cfg.seed)
    net = ensemble_module(members).eval()
    return Trained(model=net, config=cfg, rules=rules, history=history,
                   val_ids=[_key(r) for r in oob_recs], val_probs=probs)


# ----------------------------------------------------------------------------- patients

def _patients(records: Sequence[Any]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        pid = r.labels.get("patient_id", r.id) if r.corpus == "circor2022" else r.id
        out.setdefault(str(pid), []).append(i)
    return out


def patient_decisions(task: str, records: Sequence[Any], probs: np.ndarray,
                      rules: dict[str, float]) -> tuple[list[str], list[str], list[str]]:
    """Per patient (CirCor) or per recording (other corpora): ids, true labels and
    decisions. Records with no patient target for ``task`` are skipped."""
    ids, truth, pred = [], [], []
    for pid, idx in _patients(records).items():
        t = patient_target(task, records[idx[0]])
        if t is None:
            continue
        lab, _ = aggregate_patient(task, probs[idx], rules)
        ids.append(pid)
        truth.append(t)
        pred.append(lab)
    return ids, truth, pred


def _score(task: str, truth: list[str], pred: list[str]) -> float:
    labels = LABELS[task]
    t = np.array([labels.index(x) for x in truth])
    p = np.array([labels.index(x) for x in pred])
    if task == "murmur":
        w = {0: 5.0, 1: 3.0, 2: 1.0}
        num = sum(w[k] * np.sum((t == k) & (p == k)) for k in range(3))
        den = sum(w[k] * np.sum(t == k) for k in range(3))
        return float(num / den) if den else 0.0
    return _uar(t, p, len(labels))


RULE_TUNINGS = ("grid", "bagged")


def _candidates(task: str) -> list[dict[str, float]]:
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    if task == "abnormal":
        return [{"threshold": float(t)} for t in grid]
    if task == "murmur":
        return [{"t_present": float(a), "t_unknown": float(b)} for a in grid
                for b in np.append(grid, 1.01)]
    return [{"t_murmur": float(a), "bias": float(b)} for a in grid
            for b in np.arange(-2.0, 2.01, 0.25)]


def _weighted_scores(task: str, correct: np.ndarray, t: np.ndarray, counts: np.ndarray
                     ) -> np.ndarray:
    """Task score of every candidate (rows of ``correct`` [n_cand, n_patients]) when patient
    ``i`` counts ``counts[i]`` times: murmur weighted accuracy, UAR otherwise."""
    if task == "murmur":
        w = np.array([5.0, 3.0, 1.0])[t] * counts
        return correct @ w / max(w.sum(), 1e-12)
    recs = [correct[:, t == k] @ counts[t == k] / counts[t == k].sum()
            for k in range(len(LABELS[task])) if counts[t == k].sum() > 0]
    return np.mean(recs, axis=0)


def tune_rules(task: str, records: Sequence[Any], probs: np.ndarray, method: str = "grid",
               *, n_boot: int = 201, seed: int = 0) -> dict[str, float]:
    """Choose the aggregation thresholds on (inner validation) records by the task score:
    murmur weighted accuracy for ``murmur``, UAR (= MAcc for two classes) otherwise.

    Parameters
    ----------
    task : str
    records : sequence of Record
    probs : np.ndarray [shape=(n_records, n_classes)]
        Recording-level probabilities of ``records``.
    method : {"grid", "bagged"}
        ``grid``: the best candidate of a 0.05-step grid on the records (first of ties).
        ``bagged``: bootstrap aggregation of that choice (Breiman, "Bagging predictors",
        Machine Learning 24, 1996): ``n_boot`` class-stratified bootstrap resamples of the
        patients, the best candidates of each (median of tied ones), and the median of
        each threshold over the resamples. Less sensitive to the few patients of a small
        validation split that decide between neighbouring thresholds.
    n_boot, seed : int
        Resamples and seed of ``bagged``.

    Returns
    -------
    dict
        Rules for :func:`~heartsound.classification.tasks.aggregate_patient`.
    """
    if method not in RULE_TUNINGS:
        raise ParameterError(f"unknown rule tuning {method!r}; valid: "
                             f"{', '.join(RULE_TUNINGS)}")
    cands = _candidates(task)
    labels = LABELS[task]
    preds = []
    truth: list[str] = []
    for c in cands:
        _, truth, pred = patient_decisions(task, records, probs, c)
        if not truth:
            return dict(DEFAULT_RULES[task])
        preds.append([labels.index(x) for x in pred])
    t = np.array([labels.index(x) for x in truth])
    correct = (np.array(preds) == t[None, :]).astype(float)
    if method == "grid":
        s = _weighted_scores(task, correct, t, np.ones(len(t)))
        return dict(cands[int(np.argmax(s > s.max() - 1e-9))])
    keys = list(cands[0])
    values = np.array([[c[k] for k in keys] for c in cands])
    rng = np.random.default_rng(seed)
    chosen = []
    for _ in range(n_boot):
        counts = np.zeros(len(t))
        for k in np.unique(t):
            ik = np.flatnonzero(t == k)
            np.add.at(counts, rng.choice(ik, len(ik)), 1.0)
        s = _weighted_scores(task, correct, t, counts)
        chosen.append(np.median(values[s > s.max() - 1e-9], axis=0))
    med = np.median(np.array(chosen), axis=0)
    return {k: float(np.round(v, 3)) for k, v in zip(keys, med)}


# ----------------------------------------------------------------------------- CV

def cross_validate(task: str, records: Sequence[Any], *, k: int = 5, seed: int = 0,
                   folds: Sequence[tuple[Sequence[int], Sequence[int]]] | None = None,
                   progress: bool = False, jobs: int = 1,
                   **train_kwargs: Any) -> list[dict[str, Any]]:
    """Grouped, stratified k-fold cross-validation; returns per-fold predictions.

    Parameters
    ----------
    task : str
    records : sequence of Record
        All records; records without a target are dropped. Folds group by
        ``record.group`` (CirCor: patient merged with ``Additional ID``).
    k : int
        Number of folds.
    seed : int
        Seed of the folds and of each fold's training.
    folds : sequence of (train_index, test_index), optional
        Explicit folds over the filtered records (e.g. leave-one-database-out).
    jobs : int
        Folds trained at the same time, each in its own process with one torch thread
        (the results do not depend on it; the wall-clock cap ``max_minutes`` does, if the
        processes outnumber free cores).
    **train_kwargs
        Passed to :func:`train` (``model``, ``attention``, ``upsample``, ``widths``...).

    Returns
    -------
    list of dict
        Per fold: ``fold``, ``test_ids``, ``probs`` ([n_test, n_classes], recording level),
        ``rules``, ``patient_ids``, ``truth``, ``pred`` (patient level), ``score``,
        ``epochs``, ``best_epoch`` (a list, one per member, for ``inner_folds`` > 1) and
        the inner validation recordings' ``val_ids`` and ``val_probs`` (what the fold's
        rules were tuned on; out-of-fold probabilities for ``inner_folds`` > 1).
    """
    recs = [r for r in records if patient_target(task, r) is not None]
    if folds is None:
        folds = _grouped_folds(task, recs, k, seed)
    feats = feature_cache(recs, train_kwargs.get("frontend", FrontendConfig()))
    fold_args = [(task, f, [recs[i] for i in tr], [recs[i] for i in te], feats, seed,
                  progress, train_kwargs) for f, (tr, te) in enumerate(folds)]
    return _map_jobs(_cv_fold, fold_args, jobs)


def _map_jobs(fn: Any, args: Sequence[tuple], jobs: int) -> list[Any]:
    """``[fn(*a) for a in args]``, in up to ``jobs`` worker processes when ``jobs`` > 1 (in
    order). Spawn, not fork: each worker starts its own single-threaded torch."""
    if jobs <= 1 or len(args) <= 1:
        return [fn(*a) for a in args]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(jobs, len(args)),
                             mp_context=multiprocessing.get_context("spawn")) as ex:
        return list(ex.map(fn, *zip(*args)))


def _best_epochs(history: Sequence[dict[str, Any]]) -> int | list[int] | None:
    """0-based best epoch of a training history; one per member for an ensemble."""
    if not history:
        return None
    best = [int(np.argmax([h["val_score"] for h in history if h.get("member", 0) == k]))
            for k in sorted({h.get("member", 0) for h in history})]
    return best if "member" in history[0] else best[0]


def _cv_fold(task: str, f: int, tr_recs: list[Any], te_recs: list[Any],
             feats: dict[str, np.ndarray], seed: int, progress: bool,
             train_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Train on ``tr_recs`` and score ``te_recs``: one fold of :func:`cross_validate`."""
    m = train(task=task, train_records=tr_recs, features=feats, progress=progress,
              seed=seed, **train_kwargs)
    probs = m.predict(te_recs, feats)
    ids, truth, pred = patient_decisions(task, te_recs, probs, m.rules)
    by_key = {_key(r): r for r in tr_recs}
    val_recs = [by_key[v] for v in m.val_ids if v in by_key]
    res = {"fold": f, "test_ids": [_key(r) for r in te_recs], "probs": probs,
           "rules": m.rules, "patient_ids": ids, "truth": truth, "pred": pred,
           "score": _score(task, truth, pred), "epochs": len(m.history),
           "best_epoch": _best_epochs(m.history),
           "val_ids": [_key(r) for r in val_recs],
           "val_probs": (m.val_probs if m.val_probs is not None
                         else m.predict(val_recs, feats) if val_recs
                         else np.zeros((0, 0)))}
    log.info("fold %d score %.4f", f, res["score"])
    if progress:
        print(json.dumps({k2: v for k2, v in res.items()
                          if k2 in ("fold", "score", "rules", "epochs")}), flush=True)
    return res


def retune_cv(task: str, records: Sequence[Any], folds: Sequence[dict[str, Any]],
              method: str = "bagged") -> list[dict[str, Any]]:
    """Re-decide the patients of :func:`cross_validate` output with rules tuned by
    ``method`` on each fold's stored inner-validation probabilities (``val_ids``,
    ``val_probs``); the fold models and their test probabilities are unchanged and no test
    patient is used for tuning. Returns copies of ``folds`` with new ``rules``, ``pred``
    and ``score``."""
    by_key = {_key(r): r for r in records}
    out = []
    for f in folds:
        val = [by_key[k] for k in f["val_ids"]]
        te = [by_key[k] for k in f["test_ids"]]
        rules = tune_rules(task, val, np.asarray(f["val_probs"]), method)
        ids, truth, pred = patient_decisions(task, te, np.asarray(f["probs"]), rules)
        g = dict(f)
        g.update(rules=rules, patient_ids=ids, truth=truth, pred=pred,
                 score=_score(task, truth, pred))
        out.append(g)
    return out


def _grouped_folds(task: str, recs: Sequence[Any], k: int, seed: int
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds stratified by the patient target, grouped by ``record.group``."""
    from ..datasets.splits import grouped_stratified_kfold

    return grouped_stratified_kfold(recs, labels=[str(patient_target(task, r)) for r in recs],
                                    groups=[r.group for r in recs], n_splits=k, seed=seed)


# ----------------------------------------------------------------------------- export

def export_onnx(trained: Trained, path: str | Path, *, extra: dict[str, Any] | None = None,
                half_weights: bool = False) -> str:
    """Write ``trained`` as ONNX with inputs ``features [batch, frames, mels]`` and outputs
    ``log_probs [batch, n_classes]`` and ``attention [batch, n_classes, ...]``; batch and
    frames are dynamic axes (inference feeds crops of ``crop_frames``; the CNN needs frames
    divisible by the product of ``time_pool``). The frontend, labels, aggregation rules and
    hyper-parameters go into the ONNX metadata (key ``heartsound``, JSON). With
    ``half_weights`` the large weight tensors are stored as float16 and cast back to
    float32 in the graph (:func:`~heartsound.training.onnx_export.half_precision_weights`):
    half the file size, same arithmetic. Returns the file's sha256."""
    torch = _torch()
    import onnx

    cfg = trained.config
    net = trained.model.eval()
    x = torch.zeros(1, cfg.frontend.crop_frames, cfg.frontend.n_features)
    path = Path(path)
    torch.onnx.export(net, (x,), str(path), input_names=["features"],
                      output_names=["log_probs", "attention"],
                      dynamic_axes={"features": {0: "batch", 1: "frames"},
                                    "log_probs": {0: "batch"},
                                    "attention": {0: "batch", 2: "frames_out"}},
                      opset_version=17, dynamo=False)
    m = onnx.load(str(path))
    meta = {"task": cfg.task, "labels": list(LABELS[cfg.task]), "rules": trained.rules,
            "frontend": cfg.frontend.to_dict(), "train": cfg.to_dict(),
            "architecture": f"{'bi' if cfg.bidirectional else ''}{cfg.model}+"
                            f"{cfg.attention or 'none'}",
            "weights": "float16" if half_weights else "float32"}
    meta.update(extra or {})
    del m.metadata_props[:]
    p = m.metadata_props.add()
    p.key, p.value = "heartsound", json.dumps(meta)
    from .onnx_export import half_precision_weights, strip_debug_info

    m = strip_debug_info(m)
    onnx.save(half_precision_weights(m) if half_weights else m, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- model card

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


def model_card(path: str | Path, *, command: str, metrics_md: str = "",
               commit: str = "") -> str:
    """Markdown model card of an exported ONNX classifier: task, labels, architecture,
    training data with credit and licence, command, hyper-parameters, aggregation rules,
    metrics and sha256 (all read from the file and its ``heartsound`` metadata)."""
    import onnx

    path = Path(path)
    data = path.read_bytes()
    meta = json.loads({p.key: p.value for p in onnx.load_from_string(data).metadata_props}
                      ["heartsound"])
    tr, fe = meta["train"], meta["frontend"]
    corpora = meta.get("corpora", [])
    paper = ("after Ren et al., \"Deep attention-based neural networks for explainable heart "
             "sound classification\", Machine Learning with Applications 9 (2022) 100322")
    if tr["model"] == "cnn":
        body = (f"Attention CNN {paper}: four 3x3 conv layers with batch norm, ReLU and 2x2 "
                "max-pooling, then global attention pooling (1x1 conv class maps times a "
                "normalised attention map) and log-softmax. Outputs "
                "`log_probs [batch, n_classes]` and `attention [batch, n_classes, t, f]`.")
        size = f"widths {tr['widths']}"
    else:
        bi = bool(tr.get("bidirectional", False))
        kind = ("bidirectional " if bi else "forward-only ") + tr["model"].upper()
        body = (f"Attention {tr['model'].upper()} {paper}: stacked {kind} "
                f"layers of {tr['rnn_units']} units over the log-Mel frames"
                + (" (forward and backward states concatenated, 2 x units per frame; "
                   "Schuster & Paliwal, IEEE Trans. Signal Process. 45(11), 1997)"
                   if bi else "")
                + ", then global attention pooling over time (kernel-1 convolutions: "
                "class maps times a normalised attention curve) and log-softmax. Outputs "
                "`log_probs [batch, n_classes]` and `attention [batch, n_classes, t]` "
                "(time only).")
        size = f"units {tr['rnn_units']}, bidirectional {'yes' if bi else 'no'}"
    k_in = int(tr.get("inner_folds", 1))
    if k_in > 1:
        body += (f" The file holds an **ensemble of {k_in}** such networks (cross-fitting): "
                 f"the training patients were split into {k_in} patient-grouped, "
                 "target-stratified inner folds, member k was trained on the other folds "
                 "and early-stopped on fold k, and the aggregation rules were tuned on the "
                 "members' out-of-fold probabilities of every training patient. The ONNX "
                 "graph averages the members' log-probabilities (renormalised) and their "
                 "attention maps, so its inputs and outputs are those of one network.")
        size += f", {k_in} members"
    if meta.get("weights") == "float16":
        size += ("; weights stored as float16 and cast to float32 in the graph "
                 "(computation in float32)")
    val_desc = (f"of its held-out inner fold (1/{k_in} of patients)" if k_in > 1
                else f"({tr['val_fraction']:.0%} of patients)")
    rules_desc = ("out-of-fold predictions of all training patients" if k_in > 1
                  else "inner validation")
    lines = [
        f"# heartsound classifier `{path.stem}`", "",
        f"Task **{meta['task']}**: labels {', '.join(meta['labels'])} (model output order).",
        "",
        body,
        "",
        "| | |", "| --- | --- |",
        f"| file | `src/heartsound/models/{path.name}` ({len(data) / 1024:.0f} KiB) |",
        f"| sha256 | `{hashlib.sha256(data).hexdigest()}` |",
        f"| architecture | {meta['architecture']}, {size} |",
        f"| input | log-Mel, {fe['n_mels']} bands {fe['fmin']:g}-{fe['fmax']:g} Hz, "
        f"{fe['sr']} Hz, Hamming {fe['n_fft']} / hop {fe['hop_length']}, "
        f"normalisation `{fe['normalize']}`, crops of {fe['crop_frames']} frames "
        f"({((fe['crop_frames'] - 1) * fe['hop_length'] + fe['n_fft']) / fe['sr']:.2f} s), "
        f"hop {fe['crop_hop']} frames at inference"
        + ("; plus 4 phase channels (share of each frame in S1, systole, S2, diastole by "
           "the neural segmenter)" if fe.get("phase_channels") else "") + " |",
        f"| hyper-parameters | Adam lr {tr['lr']}, weight decay {tr['weight_decay']}, batch "
        f"{tr['batch_size']}, up to {tr['max_epochs']} epochs / {tr['max_minutes']} min, "
        f"early stopping (patience {tr['patience']}) on inner-validation "
        f"{'macro AUC' if tr.get('early_stop') == 'auc' else 'UAR'} "
        f"{val_desc}, {tr['crops_per_recording']} random crops "
        f"per recording per epoch, {'up-sampling' if tr['upsample'] else 'class-weighted NLL'}"
        f", augmentation {'on' if tr['augment'] else 'off'}, seed {tr['seed']} |",
        f"| aggregation rules (tuned on {rules_desc}, "
        f"`{tr.get('rule_tuning', 'grid')}`) | `{json.dumps(meta['rules'])}` |",
    ]
    if commit:
        lines.append(f"| code commit | `{commit}` |")
    lines += ["", "## Training data", ""]
    for c in corpora:
        credit, lic = _CREDITS.get(c, (c, "see corpus README"))
        lines.append(f"* {credit}. Licence: {lic}.")
    lines += ["", "PASCAL 2011 was never used for training.", "", "## Command", "",
              "```", command, "```", ""]
    if metrics_md:
        lines += ["## Metrics", "", metrics_md.strip(), ""]
    return "\n".join(lines)
