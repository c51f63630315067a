"""A small raster canvas on Pillow for the report figure: text in DejaVu Sans (the font
matplotlib draws with), lines, rectangles and the decorations of a panel (frame, ticks,
tick labels, axis labels, title) placed as matplotlib places them, sizes in points.

matplotlib is not imported: its font file is found with ``importlib.util.find_spec``
(Pillow's default font otherwise). Tick positions follow matplotlib's ``AutoLocator``
(1-2-2.5-5 steps, at most 9 intervals, fewer on short axes) and their labels its
``ScalarFormatter`` (the fewest decimals that tell the ticks apart, a minus sign U+2212).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import struct
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .scene import PNG_COMPRESS_LEVEL

__all__ = ["Canvas", "Panel", "rgb", "auto_ticks", "tick_labels", "font"]

#: matplotlib's defaults (points): tick length and label pad, axis label pad, title pad,
#: spine and tick width; tick-label and axis-label size.
TICK_LEN, TICK_PAD, LABEL_PAD, TITLE_PAD, FRAME_LW = 3.5, 3.5, 4.0, 6.0, 0.8
TICK_SIZE = LABEL_SIZE = 10.0
_STEPS = np.array([0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20])
_MINUS = "\u2212"
#: Baseline-to-baseline distance of multi-line text, in font sizes (measured on
#: matplotlib's Agg output of DejaVu Sans at 6.5 to 9 pt: 1.24 to 1.29).
_LINE_STEP = 1.27


def rgb(colour: str | tuple[int, int, int]) -> tuple[int, int, int]:
    """``"#rrggbb"``, ``"k"``, ``"white"`` or an RGB tuple as an RGB tuple."""
    if isinstance(colour, tuple):
        return colour
    named = {"k": "#000000", "black": "#000000", "white": "#ffffff", "w": "#ffffff"}
    h = named.get(colour, colour).lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


@functools.lru_cache(maxsize=1)
def _font_file() -> str | None:
    """DejaVu Sans from matplotlib's data folder (matplotlib is not imported), or None."""
    spec = importlib.util.find_spec("matplotlib")
    for root in (spec.submodule_search_locations or []) if spec else []:
        p = Path(root) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if p.is_file():
            return str(p)
    return None


#: Fonts by size, per thread: a FreeType face must not be used by two threads at once
#: (the web app draws figures in a thread pool).
_FONTS = threading.local()


def font(size_px: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The font at ``size_px`` pixels (loaded once per size, process and thread)."""
    cache = _FONTS.__dict__.setdefault("by_size", {})
    if size_px not in cache:
        cache[size_px] = _load_font(size_px)
    return cache[size_px]


def _load_font(size_px: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_file()
    if path is not None:
        try:
            # the basic layout advances glyphs as matplotlib does (raqm's are ~3 % tighter)
            return ImageFont.truetype(path, size_px, layout_engine=ImageFont.Layout.BASIC)
        except OSError:
            pass
    return ImageFont.load_default(size_px)


@functools.lru_cache(maxsize=32)
def _metrics(size_px: float) -> tuple[float, float]:
    """Ascent and descent (px) of ``"lp"``: the line box matplotlib aligns text by."""
    _, top, _, bottom = font(size_px).getbbox("lp", anchor="ls")
    return float(-top), float(bottom)


def auto_ticks(lo: float, hi: float, nbins: int) -> np.ndarray:
    """Ticks in ``[lo, hi]`` as matplotlib's ``MaxNLocator(nbins, steps=[1, 2, 2.5, 5,
    10])`` places them (no offset: the ranges of the report figure need none)."""
    lo, hi = min(lo, hi), max(lo, hi)
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 0:
        return np.array([lo])
    scale = 10 ** math.floor(math.log10((hi - lo) / nbins))
    steps = _STEPS * scale
    raw = (hi - lo) / nbins
    istep = int(np.nonzero(steps >= raw)[0][0])
    ticks = np.array([lo])
    for step in steps[: istep + 1][::-1]:
        best = (lo // step) * step
        d, m = divmod(lo - best, step)
        low = d + 1 if abs(m / step - 1) < 1e-10 else d
        d, m = divmod(hi - best, step)
        high = d if abs(m / step) < 1e-10 else d + 1
        ticks = np.arange(low, high + 1) * step + best
        if ((ticks <= hi) & (ticks >= lo)).sum() >= 2:
            break
    eps = 1e-10 * (hi - lo)
    return ticks[(ticks >= lo - eps) & (ticks <= hi + eps)]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Labels of ``ticks`` as matplotlib's ``ScalarFormatter`` writes them."""
    locs = np.asarray(ticks, dtype=float)
    if locs.size == 0:
        return []
    rng = float(np.ptp(locs)) or float(np.max(np.abs(locs))) or 1.0
    oom = math.floor(math.log10(rng))
    sig, thresh = max(0, 3 - oom), 1e-3 * 10 ** oom
    while sig >= 0 and np.abs(locs - np.round(locs, sig)).max() < thresh:
        sig -= 1
    sig += 1
    out = [f"{v:.{sig}f}" for v in locs]
    return [_MINUS + s[1:] if s.startswith("-") and float(s) != 0 else s.lstrip("-")
            for s in out]


@dataclass
class Panel:
    """A panel's data area in pixels (``x0 <= x < x1``, ``y0 <= y < y1``, y down) and
    its data limits (``ylim[0]`` at the bottom edge, ``ylim[1]`` at the top: reversed
    for an inverted axis)."""

    x0: int
    y0: int
    x1: int
    y1: int
    xlim: tuple[float, float] = (0.0, 1.0)
    ylim: tuple[float, float] = (0.0, 1.0)

    @classmethod
    def at(cls, box: Sequence[float]) -> Panel:
        """The panel of a float box ``(x0, y0, x1, y1)``, snapped to pixels."""
        return cls(*(int(round(v)) for v in box))

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def x(self, v: np.ndarray | float) -> np.ndarray:
        """Pixel x of data ``v`` (float)."""
        a, b = self.xlim
        return self.x0 + (np.asarray(v, dtype=float) - a) * (self.width / (b - a))

    def y(self, v: np.ndarray | float) -> np.ndarray:
        """Pixel y of data ``v`` (float)."""
        a, b = self.ylim
        return self.y1 - (np.asarray(v, dtype=float) - a) * (self.height / (b - a))

    def column_x(self) -> np.ndarray:
        """Data x at the centre of each pixel column [shape=(width,)]."""
        a, b = self.xlim
        return a + (np.arange(self.width) + 0.5) * ((b - a) / self.width)

    def row_y(self) -> np.ndarray:
        """Data y at the centre of each pixel row, top first [shape=(height,)]."""
        a, b = self.ylim
        return b - (np.arange(self.height) + 0.5) * ((b - a) / self.height)

    def nbins(self, axis: str, size_pt: float, dpi: float) -> int:
        """matplotlib's automatic number of tick intervals: the axis length over 3 (x)
        or 2 (y) tick-label heights, 1 to 9."""
        length_pt = (self.width if axis == "x" else self.height) / dpi * 72
        return int(np.clip(math.floor(length_pt / (size_pt * (3 if axis == "x" else 2))),
                           1, 9))


class Canvas:
    """A white RGB image ``width`` x ``height`` px at ``dpi`` with matplotlib-like drawing:
    sizes in points, text aligned by ``ha`` (left, center, right) and ``va`` (top,
    center, baseline, bottom) on the line box of ``"lp"``."""

    def __init__(self, width: int, height: int, dpi: float) -> None:
        self.image = Image.new("RGB", (width, height), (255, 255, 255))
        self.draw = ImageDraw.Draw(self.image, "RGBA")
        self.dpi = dpi

    def paste(self, pixels: np.ndarray, x0: int, y0: int) -> None:
        """Put RGB ``pixels`` [shape=(height, width, 3), uint8] at ``(x0, y0)``."""
        self.image.paste(Image.fromarray(pixels, "RGB"), (x0, y0))

    def px(self, pt: float) -> float:
        """Points to pixels."""
        return pt * self.dpi / 72

    def font_px(self, size_pt: float) -> float:
        """Font size in pixels, to a quarter pixel."""
        return round(self.px(size_pt) * 4) / 4  # few distinct sizes: fonts are cached

    def text_box(self, s: str, size_pt: float) -> tuple[float, float, float]:
        """Width, ascent and descent (px) of the lines of ``s`` (ascent from the first
        baseline to the top, descent from the last baseline to the bottom)."""
        f, sz = font(self.font_px(size_pt)), self.font_px(size_pt)
        asc, desc = _metrics(sz)
        lines = s.split("\n")
        return (max(f.getlength(line) for line in lines),
                asc, desc + (len(lines) - 1) * self._step(sz))

    @staticmethod
    def _step(size_px: float) -> float:
        """Baseline to baseline (px) of multi-line text (:data:`_LINE_STEP`)."""
        return _LINE_STEP * size_px

    def text(self, x: float, y: float, s: str, size_pt: float, colour: str = "k", *,
             ha: str = "left", va: str = "baseline", vertical: bool = False
             ) -> tuple[float, float, float, float]:
        """Draw ``s`` (lines split at ``\\n``) at ``(x, y)``; ``vertical``: one line
        turned 90 degrees (bottom to top), ``ha``/``va`` then apply to the turned box.
        Returns the box ``(x0, y0, x1, y1)`` it took."""
        if vertical:
            return self._vertical_text(x, y, s, size_pt, colour, ha, va)
        sz = self.font_px(size_pt)
        w, asc, desc = self.text_box(s, size_pt)
        h = asc + desc
        top = {"top": y, "center": y - h / 2, "bottom": y - h,
               "baseline": y - asc}[va]
        left = {"left": x, "center": x - w / 2, "right": x - w}[ha]
        anchor = {"left": "ls", "center": "ms", "right": "rs"}[ha]
        f, fill = font(sz), rgb(colour)
        for i, line in enumerate(s.split("\n")):
            base = top + asc + i * self._step(sz)
            self.draw.text((round(x), round(base)), line, font=f, fill=fill, anchor=anchor)
        return left, top, left + w, top + h

    def _vertical_text(self, x: float, y: float, s: str, size_pt: float, colour: str,
                       ha: str, va: str) -> tuple[float, float, float, float]:
        sz = self.font_px(size_pt)
        w, asc, desc = self.text_box(s, size_pt)
        tile = Image.new("L", (int(math.ceil(w)) + 2, int(math.ceil(asc + desc)) + 2), 0)
        ImageDraw.Draw(tile).text((1, 1 + round(asc)), s, font=font(sz), fill=255,
                                  anchor="ls")
        tile = tile.transpose(Image.Transpose.ROTATE_90)
        tw, th = tile.size
        left = {"left": x, "center": x - tw / 2, "right": x - tw}[ha]
        top = {"top": y, "center": y - th / 2, "bottom": y - th, "baseline": y - th}[va]
        self.image.paste(rgb(colour), (round(left), round(top)), tile)
        return left, top, left + tw, top + th

    def line(self, xs: Sequence[float], ys: Sequence[float], colour: str = "k",
             lw_pt: float = 1.0, *, dash: tuple[float, float] | None = None) -> None:
        """A polyline through pixel points (``dash``: on/off lengths in points, for a
        straight segment)."""
        width = max(1, int(round(self.px(lw_pt) + 0.25)))  # antialiased lines look wider
        pts = list(zip(np.round(xs).tolist(), np.round(ys).tolist()))
        if dash is None:
            self.draw.line(pts, fill=rgb(colour), width=width,
                           joint="curve" if width > 2 else None)
            return
        (xa, ya), (xb, yb) = pts[0], pts[-1]
        length = math.hypot(xb - xa, yb - ya) or 1.0
        on, off = self.px(dash[0] * lw_pt), self.px(dash[1] * lw_pt)
        at = 0.0
        while at < length:
            end = min(at + on, length)
            self.draw.line([(xa + (xb - xa) * at / length, ya + (yb - ya) * at / length),
                            (xa + (xb - xa) * end / length, ya + (yb - ya) * end / length)],
                           fill=rgb(colour), width=width)
            at = end + off

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: str,
             alpha: float = 1.0) -> None:
        """A filled rectangle (pixel corners in any order, ``alpha`` blended; nothing
        when it covers no pixel)."""
        (xa, xb), (ya, yb) = sorted((round(x0), round(x1))), sorted((round(y0), round(y1)))
        if xb > xa and yb > ya:
            fill = (*rgb(colour), int(round(alpha * 255)))
            self.draw.rectangle([xa, ya, xb - 1, yb - 1], fill=fill)

    def triangle(self, x: float, y: float, size_pt: float, colour: str) -> None:
        """An upward triangle centred at pixel ``(x, y)``, ``size_pt`` points high and wide
        with a 1-pixel edge of its colour (matplotlib's ``marker="^"``)."""
        h = self.px(size_pt) / 2
        self.draw.polygon([(x, y - h), (x - h, y + h), (x + h, y + h)], fill=rgb(colour),
                          outline=rgb(colour))

    def png(self) -> bytes:
        """The image as PNG bytes (dpi recorded).

        Rows unfiltered, deflated at zlib level :data:`PNG_COMPRESS_LEVEL`: on a report
        figure this takes half the time of Pillow's writer (which tries every row
        filter) and gives a smaller file (flat colours and text compress well as they
        are).
        """
        w, h = self.image.size
        data = memoryview(self.image.tobytes())
        z = zlib.compressobj(PNG_COMPRESS_LEVEL)
        parts = []
        for i in range(0, 3 * w * h, 3 * w):  # a filter byte (0: none) before each row
            parts += [z.compress(b"\0"), z.compress(data[i:i + 3 * w])]
        parts.append(z.flush())
        ppm = round(self.dpi / 0.0254)
        return b"".join([b"\x89PNG\r\n\x1a\n",
                         _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)),
                         _chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)),
                         _chunk(b"IDAT", b"".join(parts)), _chunk(b"IEND", b"")])


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
