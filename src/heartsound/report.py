"""Reports of an :class:`~heartsound.pipeline.Analysis`: JSON, CirCor TSV, PNG figure, HTML.

Every function here reads the analysis; none recomputes what the pipeline already knows
(the spectrogram under the attention map is the classifier's own log-Mel input; an STFT
is drawn only when no classifier ran).
Files are written atomically: each output is rendered in memory first, then written to a
temporary file in the target folder and moved into place with :func:`os.replace`, so an
error never leaves a partial file. ``<stem>.json`` is written last and marks a complete
set of outputs (:mod:`heartsound.batch` relies on it to resume).
"""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .pipeline import Analysis

__all__ = ["write_atomic", "write_outputs", "tsv_text", "json_text", "figure_png",
           "html_report", "attention_curve", "OUTPUT_KINDS"]

#: Output kinds in the order they are written (json last: it marks a complete set).
OUTPUT_KINDS = ("tsv", "png", "html", "json")

_PHASE_COLOURS = {1: "#d62728", 2: "#ffbb78", 3: "#1f77b4", 4: "#aec7e8"}
_PHASE_NAMES = {1: "S1", 2: "systole", 3: "S2", 4: "diastole"}
#: Task whose attention map is drawn, first available in this order.
_ATTENTION_PREFERENCE = ("murmur", "abnormal", "severity")


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


_UMASK: int | None = None


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and
    :func:`os.replace`; on any error the temporary file is removed and ``path`` untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def json_text(analysis: Analysis | dict[str, Any], *, indent: int | None = None) -> str:
    """``Analysis.to_dict()`` as JSON text (strict: no NaN)."""
    d = analysis if isinstance(analysis, dict) else analysis.to_dict()
    return json.dumps(d, indent=indent, allow_nan=False) + "\n"


def tsv_text(analysis: Analysis) -> str:
    """CirCor-style ``start_s<TAB>end_s<TAB>state`` rows of the segmentation."""
    seg = analysis.segmentation
    if seg is None:
        return ""
    return "".join(f"{a:.6f}\t{b:.6f}\t{s}\n" for a, b, s in seg.rows())


def attention_curve(result: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Attention over time of a :class:`~heartsound.classification.ClassificationResult`
    as ``(times_s, weights)`` (a time x frequency map summed over frequency), or None."""
    import numpy as np

    att = getattr(result, "attention", None) if result is not None else None
    times = getattr(result, "attention_times_s", None) if result is not None else None
    if att is None or times is None:
        return None
    w = np.asarray(att, dtype=float)
    if w.ndim == 2:
        w = w.sum(axis=1)
    t = np.asarray(times, dtype=float)
    if w.ndim != 1 or w.size == 0 or t.shape != w.shape:
        return None
    return t, w


def _phase_spans(analysis: Analysis) -> dict[int, list[tuple[float, float]]]:
    spans: dict[int, list[tuple[float, float]]] = {k: [] for k in _PHASE_NAMES}
    if analysis.segmentation is not None:
        for a, b, s in analysis.segmentation.rows():
            if s in spans:
                spans[s].append((a, b - a))
    return spans


def figure_png(analysis: Analysis, *, dpi: int = 90) -> bytes:
    """The report figure as PNG bytes.

    Three panels: the waveform with S1/S2 and the systolic/diastolic phases shaded, and
    over it the attention over time of the first classifier (murmur, abnormal, severity)
    whose attention has no frequency axis (GRU/LSTM); the log-Mel spectrogram the first
    classifier with a time x frequency attention map (CNN) saw, with that map as
    contours and its attention over time as a curve (an STFT spectrogram when no
    classifier ran); the class probabilities of each task (hatched when uncertain).
    """
    import io

    import numpy as np
    from matplotlib.figure import Figure

    rec = analysis.recording
    y, sr = rec.y, rec.sr
    dur = len(y) / sr
    fig = Figure(figsize=(11, 7.5))
    gs = fig.add_gridspec(3, max(1, len(analysis.classification)),
                          height_ratios=[1.0, 1.2, 0.8], hspace=0.45, wspace=0.35,
                          left=0.07, right=0.93, top=0.91, bottom=0.06)
    ax_w = fig.add_subplot(gs[0, :])
    ax_s = fig.add_subplot(gs[1, :], sharex=ax_w)

    # waveform (min/max envelope per pixel column keeps it cheap and faithful)
    n_px = 2400
    if len(y) > 2 * n_px:
        k = -(-len(y) // n_px)
        m = -(-len(y) // k)
        full = y[: len(y) // k * k].reshape(-1, k)  # a view; the tail is the last column
        tail = y[len(y) // k * k:] if m > full.shape[0] else y[:0]
        lo = np.concatenate([full.min(axis=1), [tail.min()] if tail.size else []])
        hi = np.concatenate([full.max(axis=1), [tail.max()] if tail.size else []])
        t = (np.arange(m) + 0.5) * k / sr
        ax_w.fill_between(t, lo, hi, color="k", lw=0.3)
    else:
        ax_w.plot(np.arange(len(y)) / sr, y, color="k", lw=0.5)
    spans = _phase_spans(analysis)
    lim = float(max(np.max(y), -np.min(y))) or 1.0  # max |y| without a full-length copy
    for s, sp in spans.items():
        if sp:
            ax_w.broken_barh(sp, (-lim, 2 * lim), facecolors=_PHASE_COLOURS[s],
                             alpha=0.45 if s in (1, 3) else 0.25, label=_PHASE_NAMES[s], lw=0)
    ax_w.set_ylim(-1.05 * lim, 1.05 * lim)
    ax_w.set_xlim(0, dur)
    ax_w.set_ylabel("amplitude")
    ax_w.tick_params(labelbottom=False)  # shares the time axis of the spectrogram
    seg = analysis.segmentation
    hr = analysis.heart_rate_bpm
    title = f"{Path(analysis.source).name}: {dur:.1f} s"
    if seg is not None:
        title += f", segmentation {seg.method}, {analysis.n_cycles} cycles"
    if hr is not None:
        title += f", {hr:.0f} bpm"
    q = analysis.quality
    title += f"; quality {'usable' if q.usable else 'NOT usable'} ({float(q.score):.2f})"
    fig.suptitle(title, fontsize=10, x=0.07, ha="left", y=0.985)
    if any(spans.values()):
        ax_w.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, fontsize=7,
                    frameon=False, borderaxespad=0.1)

    # spectrogram (the log-Mel features a classifier saw, else an STFT) + attention
    ranked = sorted(analysis.classification.values(),
                    key=lambda tr: _ATTENTION_PREFERENCE.index(tr.task)
                    if tr.task in _ATTENTION_PREFERENCE else len(_ATTENTION_PREFERENCE))
    shown = next((tr.result for tr in ranked
                  if tr.result is not None and getattr(tr.result, "spectrogram", None)
                  is not None and getattr(tr.result, "attention_freqs_hz", None) is not None),
                 None)
    if shown is not None:
        spec = np.asarray(shown.spectrogram)                     # (frames, mels)
        ts, fs = np.asarray(shown.attention_times_s), np.asarray(shown.attention_freqs_hz)
        amap = np.asarray(shown.attention, dtype=float)
        if ts.size > 2 * n_px:  # long recordings: mean over groups of frames, one per column
            k = -(-ts.size // n_px)
            m = ts.size // k
            ts = ts[: m * k].reshape(m, k).mean(axis=1)
            spec = spec[: m * k].reshape(m, k, -1).mean(axis=1, dtype=np.float64)
            amap = amap[: m * k].reshape(m, k, *amap.shape[1:]).mean(axis=1)
        spec = np.asarray(spec, dtype=float).T
        vmin, vmax = np.percentile(spec, [1, 99.5])
        ax_s.pcolormesh(ts, fs, spec, shading="nearest", cmap="magma", vmin=vmin, vmax=vmax,
                        rasterized=True)
        if amap.ndim == 2 and amap.max() > 0:
            ax_s.contour(ts, fs, amap.T / amap.max(), levels=[0.5, 0.8],
                         colors=["#00e5ff"], linewidths=[0.8, 1.4])
        spec_title = (f"log-Mel spectrogram; cyan contours (50 %, 80 % of peak) and white "
                      f"curve: attention of the {shown.task} classifier for '{shown.label}'")
    else:
        from scipy.signal import spectrogram

        nper = min(256, len(y))
        f, ts, sxx = spectrogram(y, fs=sr, nperseg=nper, noverlap=nper // 2, window="hann")
        keep = f <= min(800.0, sr / 2)
        db = 10 * np.log10(sxx[keep] + 1e-12)
        vmax = float(np.percentile(db, 99.5))
        ax_s.pcolormesh(ts, f[keep], db, shading="nearest", cmap="magma", vmin=vmax - 60,
                        vmax=vmax, rasterized=True)
        spec_title = "spectrogram"
    ax_s.set_ylabel("frequency (Hz)")
    ax_s.set_xlabel("time (s)")
    ax_a = ax_s.twinx()
    curve = attention_curve(shown)
    if curve is not None:
        t_a, w_a = curve
        peak = float(np.max(w_a)) or 1.0
        ax_a.plot(t_a, w_a / peak, color="white", lw=1.0, alpha=0.9)
        ax_a.set_ylabel("attention (rel.)", fontsize=8)
        ax_a.set_yticks([0.0, 0.5, 1.0])
        ax_a.tick_params(labelsize=7)
    else:
        ax_a.set_yticks([])
    ax_a.set_ylim(0, 1.6)  # keep the curve in the lower part, over the sounds
    ax_s.set_title(spec_title, fontsize=9)

    # a preferred classifier with attention over time only (GRU/LSTM) is drawn over the
    # waveform, where its frames line up with the S1/S2 phases
    timed = next((tr.result for tr in ranked
                  if tr.result is not None and tr.result is not shown
                  and getattr(tr.result, "attention_freqs_hz", None) is None), None)
    if timed is not None and (curve_t := attention_curve(timed)) is not None:
        t_t, w_t = curve_t
        ax_t = ax_w.twinx()
        ax_t.plot(t_t, w_t / (float(np.max(w_t)) or 1.0), color="#2ca02c", lw=1.2,
                  label=f"attention of the {timed.task} classifier for '{timed.label}'")
        ax_t.set_ylim(0, 1.05)
        ax_t.set_yticks([0.0, 0.5, 1.0])
        ax_t.set_ylabel("attention (rel.)", fontsize=8)
        ax_t.tick_params(labelsize=7)
        ax_t.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, frameon=False,
                    borderaxespad=0.1)

    # class probabilities
    for j, (task, tr) in enumerate(analysis.classification.items()):
        ax = fig.add_subplot(gs[2, j])
        probs = tr.probabilities
        if probs:
            names = list(probs)
            vals = [probs[n] for n in names]
            colours = ["#2ca02c" if n == tr.label else "#999999" for n in names]
            bars = ax.barh(names, vals, color=colours)
            ax.invert_yaxis()
            if tr.uncertain:
                for b in bars:
                    b.set_hatch("//")
            ax.set_xlim(0, 1)
            ax.set_xticks([0.0, 0.5, 1.0])
            for yi, v in enumerate(vals):
                ax.text(min(v + 0.02, 0.8), yi, f"{v:.2f}", va="center", fontsize=8)
            sub = f"{task}: {tr.label}" + (" (uncertain)" if tr.uncertain else "")
        else:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(0.5, 0.5, "classifier\nunavailable", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9, color="#777777")
            sub = task
        ax.set_title(sub, fontsize=9)
        ax.tick_params(labelsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)  # fixed layout: one draw, no tight bbox
    return buf.getvalue()


def _table(rows: Iterable[Iterable[Any]], header: Iterable[str] | None = None) -> str:
    e = html.escape
    out = ["<table>"]
    if header is not None:
        out.append("<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def html_report(analysis: Analysis | dict[str, Any], png: bytes | None = None) -> str:
    """A self-contained HTML page: summary, quality, classification and interval tables,
    the figure embedded as base64 PNG, and the S1/S2 event list."""
    d = analysis if isinstance(analysis, dict) else analysis.to_dict()
    e = html.escape
    q = d["quality"]
    seg = d["segmentation"]
    hr = d["heart_rate_bpm"]
    summary = [
        ("recording", d["source"]),
        ("duration", f"{d['duration_s']:.2f} s at {d['sr']} Hz"),
        ("quality", f"{'usable' if q['usable'] else 'NOT usable'} (score {q['score']:.2f})"),
        ("quality notes", "; ".join(q["reasons"]) or "none"),
        ("heart rate", "n/a" if hr is None else f"{hr:.0f} bpm"),
        ("cardiac cycles", d["n_cycles"]),
        ("segmentation", f"{seg.get('method')} (requested {seg.get('requested_method')})"
         + (f": {seg['note']}" if seg.get("note") else "")),
        ("heartsound", d["heartsound_version"]),
    ]
    cls_rows = []
    for task, c in d["classification"].items():
        if not c.get("available", True):
            cls_rows.append((task, "unavailable", "", c.get("reason") or ""))
            continue
        probs = ", ".join(f"{k} {v:.2f}" for k, v in c["probabilities"].items())
        cls_rows.append((task, c["label"] + (" (uncertain)" if c.get("uncertain") else ""),
                         probs, c.get("model") or ""))
    att_rows = []
    for task, c in d["classification"].items():
        shares = c.get("attention_by_phase")
        if shares:
            cells = []
            for ph in ("S1", "systole", "S2", "diastole"):
                cell = f"{100 * (shares.get(ph) or 0.0):.0f} %"
                ratio = shares.get(f"{ph}_ratio")
                cells.append(cell if ratio is None else f"{cell} ({ratio:.2f}× its time)")
            att_rows.append((task, *cells))
    iv = seg.get("intervals") or {}
    iv_rows = [(k, "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else v))
               for k, v in iv.items()]
    ev_rows = [(ev["sound"], f"{ev['onset_s']:.3f}", f"{ev['offset_s']:.3f}")
               for ev in seg.get("events", [])]
    img = ""
    if png:
        img = ('<img alt="waveform, spectrogram and class probabilities" '
               f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">')
    warn = ""
    if not q["usable"]:
        warn = ('<p class="warn">The recording did not pass the quality check; the '
                'classification below is uncertain and should not be relied on.</p>')
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>heartsound report: {e(Path(d['source']).name)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;"
        "padding:3px 8px;text-align:left}th{background:#f3f3f3}img{max-width:100%}"
        ".warn{background:#fff3cd;padding:.5em;border:1px solid #e0c36a}</style>",
        "</head><body>",
        f"<h1>{e(Path(d['source']).name)}</h1>",
        warn,
        _table(summary),
        "<h2>Classification</h2>",
        _table(cls_rows, ("task", "label", "probabilities", "model / reason")),
    ]
    if att_rows:
        parts += ["<h3>Share of attention per phase</h3>",
                  _table(att_rows, ("task", "S1", "systole", "S2", "diastole"))]
    parts += [img, "<h2>Intervals (median over cycles)</h2>", _table(iv_rows),
              f"<details><summary>{len(ev_rows)} heart sounds</summary>",
              _table(ev_rows, ("sound", "onset (s)", "offset (s)")), "</details>",
              "<p><small>Research software; not a medical device.</small></p>",
              "</body></html>\n"]
    return "\n".join(p for p in parts if p)


def write_outputs(analysis: Analysis, out_dir: str | Path, stem: str, *,
                  png: bool = True, html: bool = False,
                  data: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``<stem>.tsv``, ``<stem>.png`` (if ``png``), ``<stem>.html`` (if ``html``)
    and ``<stem>.json`` into ``out_dir``, atomically.

    Every output is rendered before the first file is written, so an error leaves no file
    behind; ``<stem>.json`` is written last.

    ``data`` is ``analysis.to_dict()`` when the caller already has it.

    Returns
    -------
    dict of str to Path
        Output kind -> written path.
    """
    d = analysis.to_dict() if data is None else data
    blobs: dict[str, bytes | str] = {"tsv": tsv_text(analysis)}
    png_bytes = figure_png(analysis) if (png or html) else None
    if png and png_bytes is not None:
        blobs["png"] = png_bytes
    if html:
        blobs["html"] = html_report(d, png_bytes)
    blobs["json"] = json_text(d)
    out = Path(out_dir)
    return {k: write_atomic(out / f"{stem}.{k}", blobs[k]) for k in OUTPUT_KINDS if k in blobs}
