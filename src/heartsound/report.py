"""Reports of an :class:`~heartsound.Analysis`: JSON, CirCor TSV, PNG figure, HTML.

Every output is rendered from ``Analysis.to_dict()`` (the arrays of the figure from the
object): JSON and TSV by :mod:`heartsound.serialize`, the figure by
:func:`heartsound.plotting.figure_png` (the PNG, drawn with Pillow), the HTML page here.

Output files never clobber:

* they are named ``<stem>.heartsound.<kind>`` (:func:`output_name`), never ``<stem>.tsv``
  (the name of CirCor's annotations) or any other name a recording's companions use;
* an existing file is replaced only when heartsound wrote it (:func:`is_heartsound_output`:
  a JSON with ``heartsound_version``, a PNG whose ``Software`` text says heartsound, an
  HTML page with heartsound's ``generator`` meta tag, a TSV of exactly heartsound's
  ``start<TAB>end<TAB>state`` rows); otherwise nothing is written and
  :class:`~heartsound.errors.OutputError` says which file is in the way;
* every output is rendered in memory and written atomically, all temporary files before
  the first is moved into place (:func:`heartsound.serialize.write_atomic_many`), so an
  error never leaves a partial file. ``<stem>.heartsound.json`` is written last and marks
  a complete set of outputs (:mod:`heartsound.batch` relies on it to resume).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .classification.decision import summary_lines
from .errors import OutputError
from .plotting import attention_curve, figure_png
from .serialize import (computed_for_text, display_text, json_text, png_text, png_with_text,
                        tsv_text, unavailable_text, write_atomic, write_atomic_many)
from .vocab import STATES

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import Analysis

__all__ = ["write_atomic", "write_outputs", "tsv_text", "json_text", "figure_png",
           "html_report", "attention_curve", "render_outputs", "OUTPUT_KINDS", "OUTPUT_TAG",
           "output_name", "is_heartsound_output", "check_replaceable", "write_named",
           "mark_png", "output_kinds"]

#: Output kinds in the order they are written (json last: it marks a complete set).
OUTPUT_KINDS = ("tsv", "png", "html", "json")
#: The infix of every output name: ``<stem>.heartsound.<kind>``.
OUTPUT_TAG = "heartsound"
#: Value of the PNG ``Software`` text and of the HTML ``generator`` meta tag.
GENERATOR = f"heartsound {__version__}"
#: A line of :func:`heartsound.serialize.tsv_text`.
_TSV_ROW = re.compile(r"-?\d+\.\d+\t-?\d+\.\d+\t\d+")
#: Larger files are not taken for heartsound outputs (nor read to check).
_MAX_CHECK_BYTES = 64 << 20


def output_name(stem: str, kind: str) -> str:
    """``<stem>.heartsound.<kind>``: the file name of output ``kind`` of ``stem``."""
    return f"{stem}.{OUTPUT_TAG}.{kind}"


def mark_png(png: bytes) -> bytes:
    """``png`` marked as written by heartsound (a ``Software`` ``tEXt`` chunk)."""
    return png_with_text(png, "Software", GENERATOR)


def _is_own(kind: str, raw: bytes) -> bool:
    if kind == "png":
        return png_text(raw).get("Software", "").startswith("heartsound")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if kind == "json":
        try:
            d = json.loads(text)
        except ValueError:
            return False
        return isinstance(d, dict) and "heartsound_version" in d
    if kind == "html":
        return '<meta name="generator" content="heartsound' in text[:4096]
    if kind == "tsv":
        return all(_TSV_ROW.fullmatch(ln) for ln in text.splitlines())
    return False


def is_heartsound_output(path: str | Path) -> bool:
    """True when ``path`` is a regular file heartsound wrote and may replace: its name is
    ``<stem>.heartsound.<kind>`` and its content is heartsound's (see the module
    docstring). A folder, a link to another kind of file, an unreadable or foreign file:
    False."""
    p = Path(path)
    kind = p.suffix[1:]
    if not p.name.endswith(f".{OUTPUT_TAG}.{kind}") or kind not in OUTPUT_KINDS:
        return False
    try:
        if not p.is_file() or p.stat().st_size > _MAX_CHECK_BYTES:
            return False
        return _is_own(kind, p.read_bytes())
    except OSError:
        return False


def check_replaceable(out_dir: str | Path, stem: str, kinds: Iterable[str]
                      ) -> dict[str, Path]:
    """The path of each output kind of ``stem`` in ``out_dir``, after checking that none
    is an existing file heartsound did not write (call it before a long analysis).

    Raises
    ------
    OutputError
        Naming the first file in the way.
    """
    paths = {k: Path(out_dir) / output_name(stem, k) for k in kinds}
    for p in paths.values():
        if (p.exists() or p.is_symlink()) and not is_heartsound_output(p):
            raise OutputError(f"{display_text(p)} exists and was not written by heartsound; "
                              "not replaced (move it away or choose another --out)")
    return paths


def write_named(out_dir: str | Path, stem: str, blobs: Mapping[str, bytes | str]
                ) -> dict[str, Path]:
    """Write each ``kind -> content`` of ``blobs`` to ``out_dir/<stem>.heartsound.<kind>``
    atomically, in the order given, after checking that no existing one is a file
    heartsound did not write.

    Raises
    ------
    OutputError
        A target exists and is not a heartsound output (nothing is written), or the
        folder cannot be written.
    """
    out = Path(out_dir)
    paths = check_replaceable(out, stem, blobs)
    try:
        write_atomic_many([(paths[k], blobs[k]) for k in blobs])
    except OSError as exc:
        where = display_text(exc.filename or out)
        raise OutputError(f"cannot write in {where}: {exc.strerror or exc}") from None
    return paths


def _table(rows: Iterable[Iterable[Any]], header: Iterable[str] | None = None) -> str:
    e = html.escape
    out = ["<table>"]
    if header is not None:
        out.append("<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _summary_rows(d: dict[str, Any]) -> list[tuple[str, Any]]:
    q, seg, hr = d["quality"], d["segmentation"], d["heart_rate_bpm"]
    return [
        ("recording", display_text(d["source"])),
        ("duration", f"{d['duration_s']:.2f} s at {d['sr']} Hz"),
        ("quality", f"{'usable' if q['usable'] else 'NOT usable'} (score {q['score']:.2f})"),
        ("quality notes", "; ".join(q["reasons"]) or "none"),
        ("recording notes", "; ".join(f"{k}: {v}" for k, v in q.get("notes", {}).items())
         or "none"),
        ("heart rate", "n/a" if hr is None else f"{hr:.0f} bpm"),
        ("cardiac cycles", d["n_cycles"]),
        ("segmentation", f"{seg.get('method')} (requested {seg.get('requested_method')})"
         + (f": {seg['note']}" if seg.get("note") else "")),
        ("heartsound", d["heartsound_version"]),
    ]


def _label_text(c: dict[str, Any]) -> str:
    """A task's label for people: ``not assessable`` when it has none."""
    label = c.get("label") if c.get("label") is not None else "not assessable"
    gate = f" ({computed_for_text(c)})" if c.get("computed_for") else ""
    return label + (" (uncertain)" if c.get("uncertain") else "") + gate


def _classification_rows(d: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for task, c in d["classification"].items():
        if not c.get("available", True):
            word, why = unavailable_text(c)
            rows.append((task, word, "", why, "", ""))
            continue
        probs = ", ".join(f"{k} {v:.2f}" for k, v in c["probabilities"].items())
        lines = [ln for ln in summary_lines(c) if not ln.startswith(("caveat:", "evidence:"))]
        caveat = (c.get("decision") or {}).get("caveat") or ""
        rows.append((task, _label_text(c), probs, "; ".join(lines), caveat,
                     c.get("model") or ""))
    return rows


def _evidence_rows(d: dict[str, Any]) -> list[tuple[str, ...]]:
    """Per task: the change of the decision score when each phase is occluded (minus its
    ``drop``, signed as the console's ``evidence:`` line), the phase's share of the
    decrease and of the time."""
    rows = []
    for task, c in d["classification"].items():
        ev = c.get("evidence_by_phase")
        if not ev:
            continue
        cells = []
        for ph in STATES:
            e = ev.get(ph) or {}
            share = "n/a" if e.get("share") is None else f"{100 * e['share']:.0f} %"
            cells.append(f"{-e.get('drop', 0.0):+.2f} ({share} of the decrease, "
                         f"{100 * (e.get('time_share') or 0.0):.0f} % of time)")
        rows.append((task, f"{ev['score']} {ev['full']:.2f}", *cells))
    return rows


def _attention_rows(d: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for task, c in d["classification"].items():
        shares = c.get("attention_by_phase")
        if shares:
            cells = []
            for ph in STATES:
                cell = f"{100 * (shares.get(ph) or 0.0):.0f} %"
                ratio = shares.get(f"{ph}_ratio")
                cells.append(cell if ratio is None else f"{cell} ({ratio:.2f}× its time)")
            rows.append((task, *cells))
    return rows


_EVIDENCE_NOTE = ("Change of the decision score when the log-Mel frames of one phase are "
                  "replaced by the recording's background level (negative: the phase "
                  "held evidence for the label). Compare each phase's share of the "
                  "decrease with its share of time (chance).")
_ATTENTION_NOTE = ("Where the model's attention pooling put weight. It shows what the "
                   "model looked at, not what its decision depends on; see the occlusion "
                   "table for that.")

_STYLE = ("<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}"
          "table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;"
          "padding:3px 8px;text-align:left}th{background:#f3f3f3}img{max-width:100%}"
          ".warn{background:#fff3cd;padding:.5em;border:1px solid #e0c36a}</style>")


def html_report(analysis: Analysis | dict[str, Any], png: bytes | None = None) -> str:
    """A self-contained HTML page of ``Analysis.to_dict()``: summary, quality,
    classification and interval tables, the figure embedded as base64 PNG, and the S1/S2
    event list."""
    d = analysis if isinstance(analysis, dict) else analysis.to_dict()
    e = html.escape
    seg = d["segmentation"]
    iv_rows = [(k, "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else v))
               for k, v in (seg.get("intervals") or {}).items()]
    ev_rows = [(ev["sound"], f"{ev['onset_s']:.3f}", f"{ev['offset_s']:.3f}")
               for ev in seg.get("events", [])]
    img = ""
    if png:
        img = ('<img alt="waveform, spectrogram and class probabilities" '
               f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">')
    warn = ""
    if not d["quality"]["usable"]:
        graded = any(c.get("probabilities") for c in d["classification"].values())
        warn = ('<p class="warn">The recording did not pass the quality check; the '
                + ("classification below is uncertain and should not be relied on."
                   if graded else "recording could not be classified (see below).")
                + "</p>")
    name = e(display_text(Path(d["source"]).name))
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f'<meta name="generator" content="{e(GENERATOR)}">',
             f"<title>heartsound report: {name}</title>", _STYLE, "</head><body>",
             f"<h1>{name}</h1>", warn, _table(_summary_rows(d)), "<h2>Classification</h2>",
             _table(_classification_rows(d), ("task", "label", "probabilities",
                                              "decision rule and spread over windows",
                                              "caveat (model card)", "model / reason"))]
    occ_rows = _evidence_rows(d)
    if occ_rows:
        parts += ["<h3>Evidence per phase (occlusion)</h3>",
                  f"<p>{e(_EVIDENCE_NOTE)}</p>",
                  _table(occ_rows, ("task", "score", *STATES))]
    att_rows = _attention_rows(d)
    if att_rows:
        parts += ["<h3>Share of attention per phase</h3>", f"<p>{e(_ATTENTION_NOTE)}</p>",
                  _table(att_rows, ("task", *STATES))]
    parts += [img, "<h2>Intervals (median over cycles)</h2>", _table(iv_rows),
              f"<details><summary>{len(ev_rows)} heart sounds</summary>",
              _table(ev_rows, ("sound", "onset (s)", "offset (s)")), "</details>",
              "<p><small>Research software; not a medical device.</small></p>",
              "</body></html>\n"]
    return "\n".join(p for p in parts if p)


def render_outputs(analysis: Analysis, *, kinds: Iterable[str] = OUTPUT_KINDS,
                   data: dict[str, Any] | None = None) -> dict[str, bytes | str]:
    """Every output of ``kinds`` (of :data:`OUTPUT_KINDS`) rendered in memory, in the
    order they are written; ``data`` is ``analysis.to_dict()`` when the caller has it."""
    kinds = set(kinds)
    d = analysis.to_dict() if data is None else data
    blobs: dict[str, bytes | str] = {}
    if "tsv" in kinds:
        blobs["tsv"] = tsv_text(d["segmentation"]["states"])
    png = None
    if kinds & {"png", "html"}:
        png = mark_png(figure_png(analysis, data=d))
    if "png" in kinds and png is not None:
        blobs["png"] = png
    if "html" in kinds:
        blobs["html"] = html_report(d, png)
    if "json" in kinds:
        blobs["json"] = json_text(d)
    return blobs


def output_kinds(*, png: bool = True, html: bool = False) -> list[str]:
    """The kinds :func:`write_outputs` writes, in order: tsv, png, html, json."""
    return [k for k in OUTPUT_KINDS if k in ("tsv", "json") or (k == "png" and png)
            or (k == "html" and html)]


def write_outputs(analysis: Analysis, out_dir: str | Path, stem: str, *,
                  png: bool = True, html: bool = False,
                  data: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``<stem>.heartsound.tsv``, ``.png`` (if ``png``), ``.html`` (if ``html``) and
    ``.json`` into ``out_dir``, atomically, never over a file heartsound did not write
    (:func:`write_named`).

    Every output is rendered before the first file is written, so an error leaves no file
    behind; the JSON is written last. ``data`` is ``analysis.to_dict()`` when the caller
    already has it.

    Returns
    -------
    dict of str to Path
        Output kind -> written path.

    Raises
    ------
    OutputError
        An output would replace a file heartsound did not write, or cannot be written.
    """
    blobs = render_outputs(analysis, kinds=output_kinds(png=png, html=html), data=data)
    return write_named(out_dir, stem, {k: blobs[k] for k in OUTPUT_KINDS if k in blobs})
