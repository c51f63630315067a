"""The probability panel of a task, apart from how it is drawn (read by
:func:`heartsound.plotting.plot_probabilities` and the Pillow raster; re-exported by
:mod:`.scene`): bars, colours, the decision threshold and spread, the rule, where each
bar's value text goes, and what a panel without probabilities says.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..serialize import unavailable_text

__all__ = ["ProbabilityPanel", "probability_panel", "empty_text", "UNAVAILABLE_TEXT",
           "VALUE_TEXT_WIDTH", "VALUE_GAP"]


@dataclass
class ProbabilityPanel:
    """What a task's probability panel shows.

    ``names``/``values``/``colours``: one bar per class, top to bottom (empty when the
    classifier is unavailable); ``threshold``: ``(bar, x)`` of the dashed decision mark;
    ``interval``: ``(bar, score, low, high)`` of the spread error bar; ``rule``: the
    decision rule wrapped for the x label.
    """

    task: str
    title: str
    names: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    hatched: bool = False
    threshold: tuple[int, float] | None = None
    interval: tuple[int, float, float, float] | None = None
    rule: str = ""
    empty_text: str = "classifier\nunavailable"

    @property
    def available(self) -> bool:
        return bool(self.names)

    def value_x(self, i: int, v: float) -> float:
        """Where the value text of bar ``i`` (length ``v``) starts, in axis units (0-1):
        right of the bar's end, else right of the threshold mark or spread bar drawn on
        it, else inside the bar left of them; never over the bar's end, the mark or the
        spread bar (the text is :data:`VALUE_TEXT_WIDTH` wide)."""
        spans = [(v, v)]
        if self.threshold is not None and self.threshold[0] == i:
            spans.append((self.threshold[1],) * 2)
        if self.interval is not None and self.interval[0] == i:
            spans.append((self.interval[2], self.interval[3]))
        right = sorted(b + VALUE_GAP for _, b in spans if b >= v)
        inside = sorted((a - VALUE_GAP - VALUE_TEXT_WIDTH for a, _ in spans), reverse=True)
        for x in right + inside:
            lo, hi = x - VALUE_GAP / 2, x + VALUE_TEXT_WIDTH + VALUE_GAP / 2
            if 0.0 <= x <= 1.0 - VALUE_TEXT_WIDTH and all(b < lo or a > hi for a, b in spans):
                return x
        return min(v + VALUE_GAP, 1.0 - VALUE_TEXT_WIDTH)


#: Width of a value text (``0.00``, 8 pt: 22 px at 90 dpi) in axis units of the report's
#: narrowest probability panel (three tasks, 230 px), and its gap to a bar's end or mark.
VALUE_TEXT_WIDTH, VALUE_GAP = 0.1, 0.02


#: Text of a panel whose classifier did not run (see :func:`empty_text`).
UNAVAILABLE_TEXT = "classifier\nunavailable"


def empty_text(c: Mapping[str, Any]) -> str:
    """What a probability panel without bars says: why the classifier gave no
    probabilities. A recording judged to hold no heart sounds is *not assessable* (the
    classifier is there; the first clause of the reason is shown), anything else is
    :data:`UNAVAILABLE_TEXT`."""
    word, why = unavailable_text(c)
    if word == "unavailable":
        return UNAVAILABLE_TEXT
    why = why.split(":", 1)[0].strip()
    return f"{word}:\n" + textwrap.fill(why, 24) if why else word


def probability_panel(task: str, c: Mapping[str, Any]) -> ProbabilityPanel:
    """The probability panel of ``task`` from its ``to_dict()`` entry ``c``: bars (the
    predicted class green, hatched when uncertain), the threshold and spread on the bar
    whose probability is the decision score (``P(<name>)``), the rule."""
    probs = c.get("probabilities") or {}
    if not probs:
        return ProbabilityPanel(task, task, empty_text=empty_text(c))
    label, dec = c.get("label"), c.get("decision") or {}
    names, values, note = _shown_bars(probs, dec)
    shown = "not assessable" if label is None else label
    used = dec.get("graded") is not False  # an ungraded severity does not read its bars
    gate = f" (for {c['computed_for']})" if c.get("computed_for") else ""
    p = ProbabilityPanel(
        task, f"{task}: {shown}" + note + (" (uncertain)" if c.get("uncertain") else "") + gate,
        names, values,
        [("#2ca02c" if n == label else "#999999") if used else UNUSED_COLOUR for n in names],
        bool(c.get("uncertain")),
        rule=textwrap.fill(dec["rule"], 48) if dec.get("rule") else "")
    i = _score_bar(names, p.values, dec)
    if i is not None and dec.get("threshold") is not None:
        p.threshold = (i, float(dec["threshold"]))
    if i is not None and dec.get("interval") is not None and dec.get("score") is not None:
        p.interval = (i, float(dec["score"]), *map(float, dec["interval"]))
    return p


#: Colour of bars the decision did not read (severity not graded: no murmur).
UNUSED_COLOUR = "#dddddd"
#: A decision score ``P(<class> | <event>)`` is a probability among the classes other than
#: this one (severity given a murmur: among the grades other than ``normal``).
CONDITIONED_OUT = {"murmur": "normal"}


def _shown_bars(probs: Mapping[str, float], dec: Mapping[str, Any]
                ) -> tuple[list[str], list[float], str]:
    """The bars of a panel ``(names, values, title note)``: the model's probabilities,
    or, when the decision score is conditional (``P(moderate_severe | murmur)``: severity
    graded because the murmur classifier says Present), the conditional distribution it
    was read from, so that the bar carries the score its threshold applies to; an
    ungraded severity keeps the model's bars (drawn faded) and says so."""
    names, values = list(probs), [float(v) for v in probs.values()]
    if dec.get("graded") is False:
        return names, values, " (not graded)"
    m = re.fullmatch(r"P\((\w+) \| (\w+)\)", str(dec.get("score_name")))
    out = CONDITIONED_OUT.get(m.group(2)) if m else None
    if out is None or out not in probs:
        return names, values, ""
    keep = [(n, v) for n, v in zip(names, values) if n != out]
    total = sum(v for _, v in keep) or 1.0
    return [n for n, _ in keep], [v / total for _, v in keep], f" (given {m.group(2)})"


#: Prefix of a decision score that a site calibration made (``calibration.applying``).
CALIBRATED = "site-calibrated "


def _score_bar(names: list[str], values: list[float], dec: Mapping[str, Any]) -> int | None:
    """The bar whose probability is the decision score ``P(<name>)``; with a site
    calibration (``site-calibrated P(<name>)``) only when the bar shows that calibrated
    probability (then the threshold applies to it), else None."""
    name = str(dec.get("score_name"))
    calibrated = name.startswith(CALIBRATED)
    m = re.fullmatch(r"P\((\w+) \| (\w+)\)", name)
    if m and m.group(2) in CONDITIONED_OUT:  # the bar of x among the conditional bars
        name = f"P({m.group(1)})"
    i = {f"P({n})": i for i, n in enumerate(names)}.get(name.removeprefix(CALIBRATED))
    if i is None or not calibrated:
        return i
    score = dec.get("score")
    return i if score is not None and abs(float(score) - values[i]) < 1e-6 else None
