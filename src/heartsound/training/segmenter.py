"""Training the neural heart-sound segmenter (PyTorch) and exporting it to ONNX for
:mod:`heartsound.segmentation.neural`.

After Renna, Oliveira, Coimbra, "Deep convolutional neural networks for heart sound
segmentation", IEEE J. Biomed. Health Inform. 23(6):2435-2445, 2019: a network maps the
Springer envelopes (plus log band energies, :func:`heartsound.segmentation.neural.neural_features`)
at 50 Hz to per-frame probabilities of S1, systole, S2 and diastole, which the HSMM of
Springer et al. (2016) then decodes.

Network (:func:`SegmenterNet`): a small fully convolutional 1-D U-Net (Renna et al. use a
U-Net too): three encoder levels of two kernel-5 convolutions with batch norm and
max-pooling, a dilated bottleneck, a mirrored decoder with skip connections, softmax over 4
states per frame. It reads a whole recording of any length (the ONNX time axis is dynamic;
inference pads it to a multiple of 8 frames), with a receptive field of several seconds.

Training data: CirCor 2022 ``.tsv`` states at 50 Hz; unannotated frames (state 0) are
masked out of the cross-entropy. Augmentation (:func:`augment`), applied to the audio
before the features are computed, with several augmented copies per recording cached
under ``/tmp``: random gain with clipping, additive white or coloured (pink, brown) noise
at 0-30 dB SNR, band-limiting (random low-pass 150-800 Hz, high-pass 40-120 Hz), and a
time stretch of the heart rate (audio and labels resampled by 0.8-1.25).

Only this module imports torch. Entry points: :func:`train` (one model),
:func:`export_onnx`, :func:`cross_validate` (one model per CirCor fold), and
:func:`train_from_args` behind ``heartsound train segmenter --method neural``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DatasetError, ParameterError

__all__ = ["TrainConfig", "SegmenterNet", "augment", "FeatureCache", "build_cache",
           "train", "export_onnx", "cross_validate", "compare_cv", "train_from_args",
           "cross_validate_from_args"]

log = logging.getLogger(__name__)

def _default_cache() -> Path:
    """Cache folder for augmented features and fold models (never inside the repository):
    ``segmenter/`` of :func:`heartsound.example.cache_dir`."""
    from ..example import cache_dir

    return cache_dir() / "segmenter"


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (stored in the ONNX metadata and model card)."""

    widths: tuple[int, ...] = (16, 24, 32, 48)
    dropout: float = 0.1
    window_s: float = 12.0
    batch_size: int = 16
    windows_per_epoch: int = 960
    lr: float = 3e-3
    weight_decay: float = 1e-4
    max_epochs: int = 30
    patience: int = 6
    val_fraction: float = 0.1
    copies: int = 4          # augmented copies per recording (plus the clean one)
    seed: int = 0
    max_minutes: float = 5.0

    def __post_init__(self) -> None:
        for name in ("batch_size", "windows_per_epoch", "max_epochs"):
            if int(getattr(self, name)) < 1:
                raise ParameterError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.val_fraction < 0.5:
            raise ParameterError(f"val_fraction must be in [0, 0.5), got {self.val_fraction}")
        if self.copies < 0:
            raise ParameterError(f"copies must be >= 0, got {self.copies}")


# --------------------------------------------------------------------------- augmentation


def _coloured_noise(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^alpha (0 white, 1 pink, 2 brown), unit RMS."""
    w = rng.standard_normal(n)
    if alpha == 0:
        return w
    spec = np.fft.rfft(w)
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 2 else 1.0
    x = np.fft.irfft(spec / f ** (alpha / 2.0), n=n)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def add_noise(y: np.ndarray, snr_db: float, rng: np.random.Generator, *,
              alpha: float = 0.0) -> np.ndarray:
    """``y`` plus noise (``1/f^alpha``) at ``snr_db`` relative to the power of ``y``."""
    p = float(np.mean(np.asarray(y, dtype=np.float64) ** 2))
    noise = _coloured_noise(len(y), alpha, rng)
    return y + noise * math.sqrt(p / 10 ** (snr_db / 10.0))


def augment(y: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One random augmentation of a recording.

    Returns
    -------
    y_aug : np.ndarray [shape=(round(n * stretch),)]
        The augmented audio, at the same nominal rate ``sr``.
    stretch : float
        Factor by which durations grew (label times are multiplied by it); 1.0 when the
        heart rate was left alone.
    """
    from fractions import Fraction

    from scipy.signal import butter, resample_poly, sosfiltfilt

    y = np.asarray(y, dtype=np.float64)
    stretch = 1.0
    if rng.random() < 0.7:  # heart-rate change: play 0.8-1.25 times as long
        stretch = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
        frac = Fraction(stretch).limit_denominator(40)
        stretch = frac.numerator / frac.denominator
        y = resample_poly(y, frac.numerator, frac.denominator)
    if rng.random() < 0.35:  # band-limiting of a cheap stethoscope / phone
        lp = rng.uniform(150.0, 800.0)
        if lp < 0.45 * sr:
            y = sosfiltfilt(butter(4, lp, "low", fs=sr, output="sos"), y)
    if rng.random() < 0.2:
        hp = rng.uniform(40.0, 120.0)
        y = sosfiltfilt(butter(2, hp, "high", fs=sr, output="sos"), y)
    if rng.random() < 0.6:  # additive noise: white, pink or brown
        alpha = float(rng.choice([0.0, 1.0, 2.0]))
        y = add_noise(y, float(rng.choice([0, 5, 10, 15, 20, 30])), rng, alpha=alpha)
    gain = 10 ** (rng.uniform(-20, 12) / 20.0)  # random gain; loud gains clip
    y = y * gain
    if rng.random() < 0.3:
        y = np.clip(y, -1.0, 1.0)
    return y, stretch


# --------------------------------------------------------------------------- data cache


@dataclass
class FeatureCache:
    """Features and labels of every annotated recording, ``1 + copies`` versions each.

    ``feats[i][c]`` is ``[n_frames, n_features]`` float32 and ``labels[i][c]`` the state
    per frame (0-4) of record ``ids[i]``, version ``c`` (0 = clean).
    """

    ids: list[str]
    groups: list[str]
    feats: list[list[np.ndarray]]
    labels: list[list[np.ndarray]]


def _record_versions(args: tuple[str, str, str, int, int]) -> tuple[list[np.ndarray],
                                                                      list[np.ndarray]]:
    from ..datasets.circor2022 import read_tsv
    from ..io import load
    from ..segmentation.neural import FRAME_RATE, neural_features
    from ..segmentation.result import rows_to_states

    audio, tsv, rid, copies, seed = args
    rec = load(audio)
    rows = read_tsv(tsv)
    # a per-record seed: the same copies whatever the fold
    digest = int(hashlib.sha256(f"{seed}:{rid}".encode()).hexdigest()[:12], 16)
    rng = np.random.default_rng(digest)
    feats, labels = [], []
    for c in range(1 + copies):
        y, stretch = (rec.y, 1.0) if c == 0 else augment(rec.y, rec.sr, rng)
        if not np.any(y) or not np.all(np.isfinite(y)):
            continue
        x, _ = neural_features(y, rec.sr)
        lab = rows_to_states([(a * stretch, b * stretch, s) for a, b, s in rows],
                             FRAME_RATE, x.shape[0])
        feats.append(x.astype(np.float32))
        labels.append(lab.astype(np.int8))
    return feats, labels


def build_cache(records: Sequence[Any], *, copies: int = 5, seed: int = 0,
                cache_dir: Path | None = None) -> FeatureCache:
    """Compute (or read from ``cache_dir``) features of every annotated record.

    Parameters
    ----------
    records : sequence of Record
        CirCor records (:func:`heartsound.datasets.circor2022.read`); records without an
        annotation are skipped.
    copies : int
        Augmented versions per recording besides the clean one.
    seed : int
        Seed of the augmentation (per record, so the copies do not depend on the fold).
    cache_dir : Path or None
        Folder for the ``.npz`` cache; None disables caching.
    """
    from ..segmentation.neural import BANDS_HZ

    recs = [r for r in records if r.annotation_path is not None]
    if not recs:
        raise DatasetError("no annotated recordings to train the segmenter on")
    key = hashlib.sha256(json.dumps([[r.id for r in recs], copies, seed, BANDS_HZ, 2]
                                    ).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"segmenter_{key}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        feats_all, labels_all = z["feats"], z["labels"]
        off = 0
        feats, labels = [], []
        for lens in meta["lengths"]:
            fr, lr = [], []
            for n in lens:
                fr.append(feats_all[off:off + n])
                lr.append(labels_all[off:off + n])
                off += n
            feats.append(fr)
            labels.append(lr)
        log.info("read feature cache %s", path)
        return FeatureCache(meta["ids"], meta["groups"], feats, labels)
    t0 = time.time()
    feats, labels = [], []
    for k, r in enumerate(recs):
        f, lab = _record_versions((str(r.audio_path), str(r.annotation_path), r.id, copies,
                                   seed))
        feats.append(f)
        labels.append(lab)
        if (k + 1) % 100 == 0:
            log.info("features: %d/%d recordings (%.0f s)", k + 1, len(recs), time.time() - t0)
    cache = FeatureCache([r.id for r in recs], [r.group for r in recs], feats, labels)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"ids": cache.ids, "groups": cache.groups,
                "lengths": [[len(x) for x in f] for f in feats]}
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, feats=np.concatenate([x for f in feats for x in f]),
                 labels=np.concatenate([x for f in labels for x in f]),
                 meta=np.array(json.dumps(meta)))
        tmp.replace(path)
        log.info("wrote feature cache %s (%.0f s)", path, time.time() - t0)
    return cache


# --------------------------------------------------------------------------- network


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ParameterError("training needs PyTorch: pip install 'heartsound[train]'"
                             ) from exc
    return torch


def SegmenterNet(n_features: int, widths: Sequence[int] = (16, 32, 48, 64),
                 dropout: float = 0.1, *, softmax: bool = False) -> Any:
    """Build the 1-D U-Net: ``[batch, time, n_features] -> [batch, time, 4]``.

    ``len(widths) - 1`` encoder levels, each two convolutions (kernel 5, batch norm, ReLU)
    then max-pooling by 2; a bottleneck of two convolutions with dilation 2; a decoder
    mirroring the encoder (transposed convolution by 2, concatenation with the skip
    connection, two convolutions); a 1x1 convolution to 4 logits (probabilities when
    ``softmax``, the exported form). The time axis must be a multiple of
    ``2 ** (len(widths) - 1)`` (:func:`time_multiple`); inference pads to it.
    """
    torch = _torch()
    nn = torch.nn
    widths = [int(w) for w in widths]

    def block(c_in: int, c_out: int, dilation: int = 1) -> Any:
        return nn.Sequential(
            nn.Conv1d(c_in, c_out, 5, padding=2 * dilation, dilation=dilation),
            nn.BatchNorm1d(c_out), nn.ReLU(),
            nn.Conv1d(c_out, c_out, 5, padding=2 * dilation, dilation=dilation),
            nn.BatchNorm1d(c_out), nn.ReLU())

    class _UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.ModuleList()
            c = n_features
            for w in widths[:-1]:
                self.enc.append(block(c, w))
                c = w
            self.pool = nn.MaxPool1d(2)
            self.mid = block(c, widths[-1], dilation=2)
            self.up = nn.ModuleList()
            self.dec = nn.ModuleList()
            c = widths[-1]
            for w in reversed(widths[:-1]):
                self.up.append(nn.ConvTranspose1d(c, w, 2, stride=2))
                self.dec.append(block(2 * w, w))
                c = w
            self.drop = nn.Dropout(dropout)
            self.head = nn.Conv1d(c, 4, 1)
            self.softmax = softmax

        def forward(self, x: Any) -> Any:
            h = x.transpose(1, 2)
            skips = []
            for enc in self.enc:
                h = enc(h)
                skips.append(h)
                h = self.pool(h)
            h = self.drop(self.mid(h))
            for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
                h = dec(torch.cat([up(h), skip], dim=1))
            z = self.head(self.drop(h)).transpose(1, 2)
            return torch.softmax(z, dim=-1) if self.softmax else z

    return _UNet()


def time_multiple(widths: Sequence[int]) -> int:
    """The network's time axis must be a multiple of this (``2 ** pooling levels``)."""
    return 2 ** (len(widths) - 1)


# --------------------------------------------------------------------------- training


def _split_val(groups: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the inner-validation records: whole groups (patients)."""
    uniq = sorted(set(groups))
    rng = np.random.default_rng(seed + 7919)
    rng.shuffle(uniq)
    val = set(uniq[: int(round(fraction * len(uniq)))])
    return np.array([g in val for g in groups])


def _batch(cache: FeatureCache, idx: np.ndarray, n: int, win: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random windows of ``win`` frames around annotated frames."""
    nf = cache.feats[0][0].shape[1]
    x = np.zeros((n, win, nf), np.float32)
    y = np.full((n, win), -100, np.int64)
    for b in range(n):
        i = int(rng.choice(idx))
        c = int(rng.integers(len(cache.feats[i])))
        f, lab = cache.feats[i][c], cache.labels[i][c]
        ann = np.flatnonzero(lab > 0)
        centre = int(rng.choice(ann)) if ann.size else f.shape[0] // 2
        start = centre - int(rng.integers(win))
        start = int(np.clip(start, min(0, f.shape[0] - win), max(0, f.shape[0] - win)))
        lo, hi = max(start, 0), min(start + win, f.shape[0])
        x[b, lo - start:hi - start] = f[lo:hi]
        seg = lab[lo:hi].astype(np.int64) - 1
        seg[seg < 0] = -100
        y[b, lo - start:hi - start] = seg
    return x, y


def _evaluate(model: Any, cache: FeatureCache, idx: np.ndarray, mult: int
              ) -> tuple[float, float]:
    """Masked cross-entropy and frame accuracy on the clean versions of ``idx``."""
    torch = _torch()
    model.eval()
    tot_loss, tot_ok, tot_n = 0.0, 0, 0
    with torch.no_grad():
        for i in idx:
            f, lab = cache.feats[i][0], cache.labels[i][0].astype(np.int64) - 1
            keep = lab >= 0
            if not keep.any():
                continue
            m = mult - f.shape[0] % mult if f.shape[0] % mult else 0
            z = model(torch.from_numpy(np.pad(f, ((0, m), (0, 0)))[None]))[0, :f.shape[0]]
            t = torch.from_numpy(lab)
            k = torch.from_numpy(keep)
            tot_loss += float(torch.nn.functional.cross_entropy(z[k], t[k], reduction="sum"))
            tot_ok += int((z[k].argmax(-1) == t[k]).sum())
            tot_n += int(keep.sum())
    return tot_loss / max(tot_n, 1), tot_ok / max(tot_n, 1)


def sound_durations(labels: Sequence[np.ndarray], frame_rate: float = 50.0
                    ) -> dict[str, list[float]]:
    """Mean and SD (s) of the S1 and S2 runs enclosed by annotated neighbours."""
    runs: dict[int, list[int]] = {1: [], 3: []}
    for lab in labels:
        s = np.asarray(lab).astype(int)
        if s.size < 3:
            continue
        change = np.flatnonzero(np.diff(s)) + 1
        starts = np.r_[0, change]
        ends = np.r_[change, s.size]
        for k in range(1, len(starts) - 1):
            st = s[starts[k]]
            if st in runs and s[starts[k - 1]] != 0 and s[ends[k]] != 0:
                runs[st].append(int(ends[k] - starts[k]))
    out = {}
    for name, code, default in (("S1", 1, (0.122, 0.022)), ("S2", 3, (0.094, 0.022))):
        d = np.asarray(runs[code], dtype=float) / frame_rate
        out[name] = ([round(float(d.mean()), 5), round(float(max(d.std(), 1 / frame_rate)), 5)]
                     if d.size >= 20 else list(default))
    return out


@dataclass
class Trained:
    """A trained network with its configuration and training history."""

    model: Any
    config: TrainConfig
    n_features: int
    history: list[dict[str, float]]
    n_train_records: int
    n_val_records: int
    train_ids: list[str]
    state_priors: list[float]
    sound_durations: dict[str, list[float]]


def train(cache: FeatureCache, train_idx: Sequence[int], config: TrainConfig | None = None
          ) -> Trained:
    """Train one network on the records ``train_idx`` of ``cache``.

    A share ``config.val_fraction`` of the training patients (whole groups) is held out
    for early stopping on the masked cross-entropy of their clean recordings; the best
    epoch's weights are kept.
    """
    torch = _torch()
    cfg = config or TrainConfig()
    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    train_idx = np.asarray(sorted(int(i) for i in train_idx))
    if train_idx.size == 0:
        raise ParameterError("no training records")
    is_val = _split_val([cache.groups[i] for i in train_idx], cfg.val_fraction, cfg.seed)
    fit_idx, val_idx = train_idx[~is_val], train_idx[is_val]
    n_feat = cache.feats[0][0].shape[1]
    model = SegmenterNet(n_feat, cfg.widths, cfg.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.max_epochs)
    mult = time_multiple(cfg.widths)
    win = int(round(cfg.window_s * 50 / mult)) * mult
    best, best_state, bad = math.inf, None, 0
    history: list[dict[str, float]] = []
    t0 = time.time()
    n_params = sum(p.numel() for p in model.parameters())
    log.info("training on %d recordings (%d inner-validation), %d parameters",
             fit_idx.size, val_idx.size, n_params)
    for epoch in range(cfg.max_epochs):
        model.train()
        losses = []
        for _ in range(max(1, cfg.windows_per_epoch // cfg.batch_size)):
            xb, yb = _batch(cache, fit_idx, cfg.batch_size, win, rng)
            z = model(torch.from_numpy(xb))
            loss = torch.nn.functional.cross_entropy(z.reshape(-1, 4),
                                                     torch.from_numpy(yb).reshape(-1),
                                                     ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(loss.detach()))
        sched.step()
        vl, va = _evaluate(model, cache, val_idx, time_multiple(cfg.widths)) if val_idx.size else (math.nan, math.nan)
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)),
                        "val_loss": vl, "val_acc": va, "minutes": (time.time() - t0) / 60})
        log.info("epoch %d: train %.4f, val %.4f (acc %.4f), %.1f min", epoch + 1,
                 np.mean(losses), vl, va, (time.time() - t0) / 60)
        if not val_idx.size or vl < best - 1e-4:
            best, bad = vl, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= cfg.patience:
                break
        if (time.time() - t0) / 60 > cfg.max_minutes:
            log.info("stopping: time budget of %.1f min reached", cfg.max_minutes)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    counts = sum(np.bincount(cache.labels[i][0], minlength=5)[1:5] for i in train_idx)
    priors = (counts / counts.sum()).round(5).tolist()
    return Trained(model, cfg, n_feat, history, int(fit_idx.size), int(val_idx.size),
                   [cache.ids[i] for i in train_idx], priors,
                   sound_durations([cache.labels[i][0] for i in train_idx]))


def export_onnx(trained: Trained, path: str | Path, *, extra: dict[str, Any] | None = None
                ) -> str:
    """Write the network (softmax output) as ONNX with a dynamic time axis.

    Uses the ``torch.onnx`` dynamo exporter (opset 18). Input
    ``features [batch, time, n_features]`` float32 with ``time`` a multiple of
    ``time_multiple`` (stored in the metadata), output ``posteriors [batch, time, 4]``. The metadata holds ``n_features``, ``frame_rate``,
    ``labels``, ``feature_names``, the configuration and the heartsound version.

    Returns
    -------
    str
        sha256 of the written file.
    """
    torch = _torch()
    import onnx

    from .._version import __version__
    from ..features import FEATURE_NAMES
    from ..segmentation.neural import BANDS_HZ, FRAME_RATE, STATE_LABELS

    cfg = trained.config
    net = SegmenterNet(trained.n_features, cfg.widths, cfg.dropout, softmax=True)
    net.load_state_dict(trained.model.state_dict())
    net.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mult = time_multiple(cfg.widths)
    dummy = torch.randn(1, 25 * mult, trained.n_features)
    tmp = path.with_suffix(".tmp.onnx")
    steps = torch.export.Dim("time_steps", min=1, max=1_000_000)
    prog = torch.onnx.export(
        net, (dummy,), input_names=["features"], output_names=["posteriors"],
        dynamic_shapes={"x": {0: torch.export.Dim("batch", max=1024), 1: mult * steps}},
        dynamo=True, opset_version=18, verbose=False)
    prog.save(str(tmp))
    m = onnx.load(str(tmp))
    names = list(FEATURE_NAMES) + [f"logband_{lo:g}_{hi:g}Hz" for lo, hi in BANDS_HZ]
    meta = {"n_features": str(trained.n_features), "frame_rate": str(FRAME_RATE),
            "labels": json.dumps(list(STATE_LABELS)), "feature_names": json.dumps(names),
            "time_multiple": str(time_multiple(cfg.widths)),
            "state_priors": json.dumps(trained.state_priors),
            "sound_durations": json.dumps(trained.sound_durations),
            "config": json.dumps(asdict(cfg)), "heartsound_version": __version__,
            "method": "neural", "reference": "Renna, Oliveira, Coimbra, IEEE JBHI 2019; "
            "Springer, Tarassenko, Clifford, IEEE TBME 2016"}
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.doc_string = "heartsound neural segmenter: per-frame S1/systole/S2/diastole posteriors"
    from .onnx_export import strip_debug_info

    onnx.save(strip_debug_info(m), str(path))
    tmp.unlink(missing_ok=True)
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- folds


def fold_indices(records: Sequence[Any], k: int = 5, seed: int = 0) -> list[tuple[list[int],
                                                                                  list[int]]]:
    """``(train, test)`` record indices of the shared patient-independent CirCor folds
    (:func:`heartsound.evaluation.segmentation.circor_folds`)."""
    from ..evaluation.segmentation import circor_folds

    folds = circor_folds(list(records), k=k, seed=seed)
    out = []
    pos = {id(r): n for n, r in enumerate(records)}
    for f in folds:
        tr, te = _as_pair(f)
        out.append(([pos.get(id(r), r) if not isinstance(r, (int, np.integer)) else int(r)
                     for r in tr],
                    [pos.get(id(r), r) if not isinstance(r, (int, np.integer)) else int(r)
                     for r in te]))
    return out


def _as_pair(f: Any) -> tuple[Sequence[Any], Sequence[Any]]:
    if hasattr(f, "train") and hasattr(f, "test"):
        return f.train, f.test
    tr, te = f
    return tr, te


def cross_validate(root: str | Path, out_dir: str | Path, *, k: int = 5, seed: int = 0,
                   folds: Sequence[int] | None = None, config: TrainConfig | None = None
                   ) -> list[dict[str, Any]]:
    """Train one network per CirCor fold on the other folds; write ``fold<i>.onnx``.

    Returns one dict per trained fold: ``fold``, ``path``, ``sha256``, ``history``,
    ``test_ids``.
    """
    from ..datasets import circor2022

    cfg = config or TrainConfig()
    records = circor2022.read(root)
    cache = build_cache(records, copies=cfg.copies, seed=cfg.seed, cache_dir=_default_cache())
    index = {rid: n for n, rid in enumerate(cache.ids)}
    out = []
    for f, (tr, te) in enumerate(fold_indices(records, k=k, seed=seed)):
        if folds is not None and f not in folds:
            continue
        train_idx = [index[records[i].id] for i in tr if records[i].id in index]
        trained = train(cache, train_idx, cfg)
        path = Path(out_dir) / f"fold{f}.onnx"
        sha = export_onnx(trained, path, extra={"fold": f, "k": k, "fold_seed": seed})
        res = {"fold": f, "path": str(path), "sha256": sha, "history": trained.history,
               "test_ids": [records[i].id for i in te]}
        out.append(res)
        log.info("fold %d written to %s", f, path)
    return out


# --------------------------------------------------------------------------- CLI


def train_from_args(args: Any) -> int:
    """``heartsound train segmenter --method neural``: train and export a model.

    Reads (with defaults when absent): ``dataset`` (``circor2022``), ``root``, ``out``
    (default ``segmenter_neural.onnx``), ``epochs``, ``fold`` (train on the other folds
    of the shared CirCor 5-fold split; with ``folds_exclude`` the same), ``k``, ``seed``,
    ``copies``, ``max_minutes``. Without a fold, every annotated recording is used (how the
    shipped model was made).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from ..datasets import circor2022

    dataset = getattr(args, "dataset", "circor2022") or "circor2022"
    if dataset != "circor2022":
        raise ParameterError(f"the neural segmenter trains on annotated CirCor only; "
                             f"dataset {dataset!r} has no segmentation (valid: circor2022)")
    root = getattr(args, "root", None)
    if root is None:
        raise ParameterError("--root is required: the CirCor 2022 folder")
    cfg = TrainConfig()
    for name in ("epochs", "copies", "seed", "max_minutes", "window_s"):
        v = getattr(args, name, None)
        if v is not None:
            setattr(cfg, "max_epochs" if name == "epochs" else name, type(getattr(
                cfg, "max_epochs" if name == "epochs" else name))(v))
    cfg.__post_init__()
    fold = getattr(args, "fold", None)
    if fold is None:
        fold = getattr(args, "folds_exclude", None)
    if isinstance(fold, (list, tuple)):
        fold = fold[0] if fold else None
    k = int(getattr(args, "k", None) or getattr(args, "folds", None) or 5)
    out = Path(getattr(args, "out", None) or "segmenter_neural.onnx")
    records = circor2022.read(root)
    cache = build_cache(records, copies=cfg.copies, seed=cfg.seed, cache_dir=_default_cache())
    index = {rid: n for n, rid in enumerate(cache.ids)}
    extra: dict[str, Any] = {"dataset": "circor2022"}
    if fold is None:
        train_idx = list(range(len(cache.ids)))
        extra["training_data"] = f"all {len(train_idx)} annotated CirCor recordings"
    else:
        fold = int(fold)
        if not 0 <= fold < k:
            raise ParameterError(f"--fold must be in 0..{k - 1}, got {fold}")
        tr, _ = fold_indices(records, k=k, seed=int(getattr(args, "fold_seed", 0) or 0))[fold]
        train_idx = [index[records[i].id] for i in tr if records[i].id in index]
        extra.update({"fold": fold, "k": k,
                      "training_data": f"CirCor folds other than {fold} of {k}"})
    trained = train(cache, train_idx, cfg)
    extra["n_train_patients"] = len({cache.groups[i] for i in train_idx})
    extra["n_train_recordings"] = len(train_idx)
    extra["epochs_run"] = len(trained.history)
    sha = export_onnx(trained, out, extra=extra)
    print(json.dumps({"out": str(out), "sha256": sha, "epochs": len(trained.history),
                      "best_val_loss": min(h["val_loss"] for h in trained.history),
                      "n_train_recordings": len(train_idx)}))
    return 0


# --------------------------------------------------------------------------- evaluation


def _noisy(y: np.ndarray, snr_db: float | None, rid: str) -> np.ndarray:
    """``y`` with white noise at ``snr_db`` (seeded by the record id); None = clean."""
    if snr_db is None:
        return y
    digest = int(hashlib.sha256(f"noise:{snr_db}:{rid}".encode()).hexdigest()[:12], 16)
    return add_noise(y, float(snr_db), np.random.default_rng(digest))


def score_circor(records: Sequence[Any], segmenters: dict[str, Any], *,
                 snrs: Sequence[float | None] = (None,), tolerance_s: float = 0.06
                 ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per-recording S1/S2 scores of several segmenters on annotated CirCor records.

    Parameters
    ----------
    records : sequence of Record
        Records with ``annotation_path`` (others are skipped).
    segmenters : dict
        Name -> callable ``(y, sr) -> Segmentation``.
    snrs : sequence of float or None
        White-noise SNRs (dB) to test at; None is the clean recording.

    Returns
    -------
    dict
        ``result[name][snr_key]`` = list of :func:`heartsound.evaluation.metrics.score_against_rows`
        dicts, ``snr_key`` ``"clean"`` or ``"<snr>dB"``.
    """
    from ..datasets.circor2022 import read_tsv
    from ..io import load
    from ..evaluation.metrics import score_against_rows

    out: dict[str, dict[str, list[dict[str, Any]]]] = {n: {} for n in segmenters}
    for r in records:
        if r.annotation_path is None:
            continue
        rows = read_tsv(r.annotation_path)
        if not rows:
            continue
        rec = load(r.audio_path)
        for snr in snrs:
            key = "clean" if snr is None else f"{snr:g}dB"
            y = _noisy(rec.y, snr, r.id)
            for name, fn in segmenters.items():
                seg = fn(y, rec.sr)
                sc = score_against_rows(rows, seg.events(), tolerance_s)
                sc["id"] = r.id
                out[name].setdefault(key, []).append(sc)
    return out


def score_pascal(root: str | Path, segmenters: dict[str, Any], *, tolerance_s: float = 0.06
                 ) -> dict[str, list[dict[str, Any]]]:
    """Per-recording S1/S2 scores on the 21 annotated PASCAL set A recordings, each scored
    within its annotated span (:func:`heartsound.evaluation.metrics.reference_span`)."""
    from ..datasets import pascal2011
    from ..io import load
    from ..evaluation.metrics import event_scores, reference_span

    ann = pascal2011.read_seg(root)
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in segmenters}
    for rid, ref in sorted(ann.items()):
        path = Path(root) / "setA" / f"{rid}.flac"
        rec = load(path)
        span = reference_span(ref, tolerance_s)
        for name, fn in segmenters.items():
            seg = fn(rec.y, rec.sr)
            sc = event_scores(ref, seg.events(), tolerance_s, span=span)
            sc["id"] = rid
            out[name].append(sc)
    return out


def _summary(scores: list[dict[str, Any]]) -> dict[str, Any]:
    from ..evaluation.metrics import pool_scores

    p = pool_scores(scores)
    return {"f1": p["f1"], "S1_f1": p["S1"]["f1"], "S2_f1": p["S2"]["f1"],
            "sensitivity": p["sensitivity"], "ppv": p["ppv"], "tp": p["tp"], "fp": p["fp"],
            "fn": p["fn"], "timing_error_ms_median": p["timing_error_ms_median"],
            "n_recordings": p["n_recordings"]}


def compare_cv(root: str | Path, fold_dir: str | Path, out: str | Path, *, k: int = 5,
               seed: int = 0, snrs: Sequence[float | None] = (None, 20, 10, 5),
               tolerance_s: float = 0.06, wait_s: float = 3600.0,
               methods: Sequence[str] = ("neural", "springer2016")) -> dict[str, Any]:
    """Score the neural fold models and Springer's LR-HSMM on the same CirCor folds.

    For each fold of :func:`heartsound.evaluation.segmentation.circor_folds`, a
    :class:`~heartsound.segmentation.springer.SpringerSegmenter` with default parameters
    (the shipped ``springer2016.json`` recipe) is fitted on the fold's training recordings
    exactly as :func:`heartsound.evaluation.segmentation.cross_validate_circor` does it
    (its ``training_features``: each recording as recorded plus, with the default
    ``augment_band_hz``, a band-limited copy; ``.tsv`` states) and the
    neural model ``fold_dir/fold<f>.onnx`` (from :func:`cross_validate`, trained on the
    same recordings) is loaded; both segment every held-out recording, clean and with
    white noise at each SNR in ``snrs``, from the same features. Results are written to
    ``out`` (JSON) after each fold; a fold model not yet written is waited for.

    Returns
    -------
    dict
        ``folds``: per fold and method, per condition, the pooled summary;
        ``pooled``: the same over all folds.
    """
    from ..datasets import circor2022
    from ..datasets.circor2022 import read_tsv
    from ..io import load
    from ..evaluation.metrics import score_against_rows
    from ..segmentation.neural import (FRAME_RATE, _decode, load_model, neural_features,
                                       shift_states)
    from ..segmentation.result import Segmentation, rows_to_states
    from ..segmentation.springer import METHOD, SpringerSegmenter

    records = circor2022.read(root)
    folds = fold_indices(records, k=k, seed=seed)
    proto = SpringerSegmenter()
    ext = bool(proto.extended_features)
    spr_features = proto.features

    # training matrices per annotated record: as recorded plus the band-limited copy of the
    # shipped recipe (SpringerSegmenter.training_features), as in cross_validate_circor
    train_feats: dict[int, tuple[list[np.ndarray], np.ndarray]] = {}
    if "springer2016" in methods:
        t_feat = time.time()
        for i, r in enumerate(records):
            if r.annotation_path is None:
                continue
            rows = read_tsv(r.annotation_path)
            rec = load(r.audio_path)
            xs = proto.training_features(rec.y, rec.sr)
            train_feats[i] = (xs, rows_to_states(rows, FRAME_RATE, xs[0].shape[0]))
            if len(train_feats) % 200 == 0:
                log.info("springer2016 training features: %d recordings (%.0f s)",
                         len(train_feats), time.time() - t_feat)
        log.info("springer2016 features (extended=%s, augment_band_hz=%s) of %d recordings",
                 ext, proto.augment_band_hz, len(train_feats))
    keys = ["clean" if s is None else f"{s:g}dB" for s in snrs]
    all_scores: dict[str, dict[str, list[dict[str, Any]]]] = {
        m: {c: [] for c in keys} for m in methods}
    result: dict[str, Any] = {"k": k, "seed": seed, "tolerance_s": tolerance_s,
                              "conditions": keys, "springer_extended_features": ext,
                              "springer_params": proto.get_params(), "folds": []}
    for f, (tr, te) in enumerate(folds):
        path = Path(fold_dir) / f"fold{f}.onnx"
        t_wait = time.time()
        while "neural" in methods and not path.is_file():
            if time.time() - t_wait > wait_s:
                raise ParameterError(f"{path} did not appear within {wait_s:.0f} s")
            time.sleep(10)
        bundle = load_model(path) if "neural" in methods else None
        tr_c = [i for i in tr if i in train_feats]
        spr = None
        if "springer2016" in methods:
            spr = SpringerSegmenter().fit(
                [x for i in tr_c for x in train_feats[i][0]],
                [train_feats[i][1] for i in tr_c for _ in train_feats[i][0]])
        fold_scores: dict[str, dict[str, list[dict[str, Any]]]] = {
            m: {c: [] for c in keys} for m in all_scores}
        t0 = time.time()
        for n_done, i in enumerate(te):
            if n_done and n_done % 100 == 0:
                log.info("fold %d: %d/%d test recordings (%.0f s)", f, n_done, len(te),
                         time.time() - t0)
            r = records[i]
            rows = read_tsv(r.annotation_path) if r.annotation_path is not None else []
            if not rows:
                continue
            rec = load(r.audio_path)
            for snr, key in zip(snrs, keys):
                y = _noisy(rec.y, snr, r.id)
                segs = {}
                if bundle is not None:
                    feats, _ = neural_features(y, rec.sr)
                    post = bundle.run(feats)
                    st, hr, si = _decode(post, bundle.priors, bundle.sound_durations)
                    segs["neural"] = Segmentation(shift_states(st), FRAME_RATE, "neural", hr, si)
                if spr is not None:
                    st2, hr2, si2, _ = spr.decode(spr_features(y, rec.sr), FRAME_RATE)
                    segs["springer2016"] = Segmentation(st2, FRAME_RATE, METHOD, hr2, si2)
                for m, seg in segs.items():
                    sc = score_against_rows(rows, seg.events(), tolerance_s)
                    sc["id"] = r.id
                    fold_scores[m][key].append(sc)
                    all_scores[m][key].append(sc)
        result["folds"].append({
            "fold": f, "model": str(path) if bundle else None,
            "model_sha256": bundle.sha256 if bundle else None,
            "n_train_recordings": len(tr_c) if spr is not None else None,
            "n_test_recordings": len(te),
            "seconds": round(time.time() - t0, 1),
            **{m: {c: _summary(v) for c, v in d.items()} for m, d in fold_scores.items()}})
        result["pooled"] = {m: {c: _summary(v) for c, v in d.items() if v}
                            for m, d in all_scores.items()}
        Path(out).write_text(json.dumps(result, indent=1))
        log.info("fold %d: %s (clean F1)", f, {m: round(result["folds"][-1][m]["clean"]["f1"], 4)
                                                for m in methods})
    return result


def cross_validate_from_args(args: Any) -> int:
    """``heartsound evaluate segmentation --method neural --cv K``: train one network per
    CirCor fold (:func:`cross_validate`, fold models under ``$HEARTSOUND_CACHE``) and score
    it with springer2016 fitted on the same folds (:func:`compare_cv`), clean and with
    white noise at 20, 10 and 5 dB SNR. Prints the pooled and per-fold F1 (JSON with
    ``--json``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    root = getattr(args, "root", None)
    if root is None:
        raise ParameterError("--root is required: the CirCor 2022 folder")
    k = int(getattr(args, "cv", None) or 5)
    seed = int(getattr(args, "seed", 0) or 0)
    tol = float(getattr(args, "tolerance_ms", 60.0) or 60.0) / 1000.0
    fold_dir = _default_cache() / f"neural_cv_k{k}_seed{seed}"
    cross_validate(root, fold_dir, k=k, seed=seed)
    res = compare_cv(root, fold_dir, fold_dir / "compare.json", k=k, seed=seed,
                     tolerance_s=tol)
    if getattr(args, "json", False):
        print(json.dumps(res))
        return 0
    for fo in res["folds"]:
        print(f"fold {fo['fold']}: neural F1 {fo['neural']['clean']['f1']:.4f}, "
              f"springer2016 F1 {fo['springer2016']['clean']['f1']:.4f} "
              f"({fo['n_test_recordings']} recordings)")
    for c in res["conditions"]:
        n, sp = res["pooled"]["neural"][c], res["pooled"]["springer2016"][c]
        print(f"pooled {c}: neural F1 {n['f1']:.4f} (S1 {n['S1_f1']:.4f}, S2 {n['S2_f1']:.4f}), "
              f"springer2016 F1 {sp['f1']:.4f} (S1 {sp['S1_f1']:.4f}, S2 {sp['S2_f1']:.4f})")
    return 0


if __name__ == "__main__":  # python -m heartsound.training.segmenter compare ROOT FOLD_DIR OUT
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if len(sys.argv) in (5, 6) and sys.argv[1] == "compare":
        compare_cv(sys.argv[2], sys.argv[3], sys.argv[4],
                   methods=tuple(sys.argv[5].split(",")) if len(sys.argv) == 6
                   else ("neural", "springer2016"))
    elif len(sys.argv) == 4 and sys.argv[1] == "cv":
        json.dump(cross_validate(sys.argv[2], sys.argv[3]), sys.stdout, indent=1)
    else:
        print("usage: python -m heartsound.training.segmenter cv ROOT FOLD_DIR\n"
              "       python -m heartsound.training.segmenter compare ROOT FOLD_DIR OUT.json "
              "[neural,springer2016]")
        sys.exit(2)
