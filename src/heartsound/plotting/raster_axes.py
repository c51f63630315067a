"""The decorations of a raster panel (:class:`.raster.Panel` on a :class:`.raster.Canvas`):
frame, ticks with their labels, axis labels, title and a one-row legend above the panel,
placed with matplotlib's default sizes and pads.
"""

from __future__ import annotations

from collections.abc import Sequence

from .raster import (FRAME_LW, LABEL_PAD, LABEL_SIZE, TICK_LEN, TICK_PAD, TICK_SIZE,
                     TITLE_PAD, Canvas, Panel, auto_ticks, tick_labels)

__all__ = ["frame", "x_axis", "y_axis", "x_label", "y_label", "title", "legend_row",
           "auto_x", "auto_y"]

#: Legend geometry (font sizes): handle length and height, handle-text gap, column gap,
#: border pad inside the box and between the box and the axes.
_HANDLE_LEN, _HANDLE_H, _HANDLE_PAD, _COL_GAP, _PAD, _AXES_PAD = 2.0, 0.7, 0.8, 2.0, 0.4, 0.1


def frame(c: Canvas, p: Panel) -> None:
    """The four spines, just outside the data area."""
    w = max(1, round(c.px(FRAME_LW)))
    c.draw.rectangle([p.x0 - w, p.y0 - w, p.x1 + w - 1, p.y1 + w - 1], outline=(0, 0, 0),
                     width=w)


def auto_x(c: Canvas, p: Panel, size_pt: float = TICK_SIZE) -> list[float]:
    """matplotlib's automatic ticks of ``p``'s x axis."""
    return auto_ticks(*p.xlim, p.nbins("x", size_pt, c.dpi)).tolist()


def auto_y(c: Canvas, p: Panel, size_pt: float = TICK_SIZE) -> list[float]:
    """matplotlib's automatic ticks of ``p``'s y axis."""
    return auto_ticks(*p.ylim, p.nbins("y", size_pt, c.dpi)).tolist()


def x_axis(c: Canvas, p: Panel, ticks: Sequence[float], labels: Sequence[str] | None = None,
           size_pt: float = TICK_SIZE, *, show_labels: bool = True) -> float:
    """Ticks under the panel at data ``ticks`` and their labels (``labels``, else
    matplotlib's); returns the bottom (px) of what was drawn."""
    tick_w, length = max(1, round(c.px(FRAME_LW))), c.px(TICK_LEN)
    bottom = p.y1 + length
    labels = tick_labels(ticks) if labels is None else labels
    for t, s in zip(ticks, labels):
        x = round(float(p.x(t)))
        c.draw.line([(x, p.y1), (x, round(p.y1 + length))], fill=(0, 0, 0), width=tick_w)
        if show_labels:
            bottom = max(bottom, c.text(x, p.y1 + length + c.px(TICK_PAD), s, size_pt,
                                        ha="center", va="top")[3])
    return bottom


def y_axis(c: Canvas, p: Panel, ticks: Sequence[float], labels: Sequence[str] | None = None,
           size_pt: float = TICK_SIZE, *, side: str = "left") -> float:
    """Ticks left (or right) of the panel and their labels; returns the outer x (px)
    of what was drawn."""
    tick_w, length = max(1, round(c.px(FRAME_LW))), c.px(TICK_LEN)
    sign, edge = (-1, p.x0) if side == "left" else (1, p.x1)
    outer = edge + sign * length
    labels = tick_labels(ticks) if labels is None else labels
    for t, s in zip(ticks, labels):
        y = round(float(p.y(t)))
        c.draw.line([(edge, y), (round(edge + sign * length), y)], fill=(0, 0, 0),
                    width=tick_w)
        x0, _, x1, _ = c.text(edge + sign * (length + c.px(TICK_PAD)), y, s, size_pt,
                              ha="right" if side == "left" else "left", va="center")
        outer = min(outer, x0) if side == "left" else max(outer, x1)
    return outer


def x_label(c: Canvas, p: Panel, text: str, top: float, size_pt: float = LABEL_SIZE) -> None:
    """The x-axis label under ``top`` (the bottom of the tick labels), centred."""
    c.text((p.x0 + p.x1) / 2, top + c.px(LABEL_PAD), text, size_pt, ha="center", va="top")


def y_label(c: Canvas, p: Panel, text: str, outer: float, size_pt: float = LABEL_SIZE, *,
            side: str = "left") -> None:
    """The y-axis label, turned, beyond ``outer`` (the outer edge of the tick labels)."""
    pad = c.px(LABEL_PAD)
    if side == "left":
        c.text(outer - pad, (p.y0 + p.y1) / 2, text, size_pt, ha="right", va="center",
               vertical=True)
    else:
        c.text(outer + pad, (p.y0 + p.y1) / 2, text, size_pt, ha="left", va="center",
               vertical=True)


def title(c: Canvas, p: Panel, text: str, size_pt: float) -> None:
    """The panel's title, centred above it."""
    c.text((p.x0 + p.x1) / 2, p.y0 - c.px(TITLE_PAD), text, size_pt, ha="center")


def legend_row(c: Canvas, p: Panel, entries: Sequence[tuple[str, str, float, str]],
               size_pt: float, *, corner: str) -> None:
    """A frameless one-row legend standing on the panel's top edge, at its ``corner``
    (``"left"`` or ``"right"``). ``entries``: ``(kind, colour, alpha, label)`` with
    kind ``"patch"`` (a filled box) or ``"line"``."""
    em = c.px(size_pt)
    _, asc, desc = c.text_box("lp", size_pt)
    base = p.y0 - (_AXES_PAD + _PAD) * em - desc
    mid = base - (asc - desc) / 2
    widths = [_HANDLE_LEN * em + _HANDLE_PAD * em + c.text_box(e[3], size_pt)[0]
              for e in entries]
    total = sum(widths) + _COL_GAP * em * (len(entries) - 1)
    pad = (_AXES_PAD + _PAD) * em
    x = p.x0 + pad if corner == "left" else p.x1 - pad - total
    for (kind, colour, alpha, label), w in zip(entries, widths):
        hl = _HANDLE_LEN * em
        if kind == "patch":
            h = _HANDLE_H * em
            c.rect(x, mid - h / 2, x + hl, mid + h / 2, colour, alpha)
        else:
            c.line([x, x + hl], [mid, mid], colour, 1.1)
        c.text(x + hl + _HANDLE_PAD * em, base, label, size_pt)
        x += w + _COL_GAP * em
