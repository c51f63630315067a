"""The colour table of matplotlib's ``magma`` colormap (256 RGB entries, as
``matplotlib.colormaps["magma"](range(256), bytes=True)``), so the report PNG colours a
spectrogram as matplotlib does without importing it (``tests/test_render.py`` checks the
table against matplotlib's).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAGMA", "colour_index"]

_MAGMA_HEX = (
    "00000300000400000601000701010901010b02020d02020f03031104031304041505041706051907051b0806"
    "1d09071f0a07220b08240c09260d0a280e0a2a0f0b2c100c2f110c31120d33140d35150e38160e3a170f3c18"
    "0f3f1a10411b10441c10461e10491f114b20114d2211502311522511552611572811592a115c2b115e2d1060"
    "2f1062301065321067341068350f6a370f6c390f6e3b0f6f3c0f713e0f72400f73420f74430f75450f76470f"
    "774810784a10794b10794d117a4f117b50127b52127c53137c55137d57147d58157e5a157e5b167e5d177e5e"
    "177f60187f61187f63197f651a80661a80681b80691c806b1c806c1d806e1e816f1e81711f81731f81742081"
    "7621817721817922817a22817c23817e24817f24818125818225818426818526818727818928818a28818c29"
    "808d29808f2a80912a80922b80942b80952c80972c7f992d7f9a2d7f9c2e7f9e2e7e9f2f7ea12f7ea3307ea4"
    "307da6317da7317da9327cab337cac337bae347bb0347bb1357ab3357ab53679b63679b83778b93778bb3877"
    "bd3977be3976c03a75c23a75c33b74c53c74c63c73c83d72ca3e72cb3e71cd3f70ce4070d0416fd1426ed342"
    "6dd4436dd6446cd7456bd9466ada4769dc4869dd4968de4a67e04b66e14c66e24d65e44e64e55063e65162e7"
    "5262e85461ea5560eb5660ec585fed595fee5b5eee5d5def5e5df0605df1615cf2635cf3655cf3675bf4685b"
    "f56a5bf56c5bf66e5bf6705bf7715bf7735cf8755cf8775cf9795cf97b5df97d5dfa7f5efa805efa825ffb84"
    "60fb8660fb8861fb8a62fc8c63fc8e63fc9064fc9265fc9366fd9567fd9768fd9969fd9b6afd9d6bfd9f6cfd"
    "a16efda26ffda470fea671fea873feaa74feac75feae76feaf78feb179feb37bfeb57cfeb77dfeb97ffebb80"
    "febc82febe83fec085fec286fec488fec689fec78bfec98dfecb8efdcd90fdcf92fdd193fdd295fdd497fdd6"
    "98fdd89afdda9cfddc9dfddd9ffddfa1fde1a3fce3a5fce5a6fce6a8fce8aafceaacfcecaefceeb0fcf0b1fc"
    "f1b3fcf3b5fcf5b7fbf7b9fbf9bbfbfabdfbfcbf"
)
#: shape=(256, 3), uint8
MAGMA = np.frombuffer(bytes.fromhex(_MAGMA_HEX), dtype=np.uint8).reshape(256, 3)
MAGMA.flags.writeable = False


def colour_index(values: np.ndarray, vmin: float, vmax: float, n: int = 256) -> np.ndarray:
    """Row of an ``n``-entry colour table for each of ``values``, as matplotlib's
    ``Normalize(vmin, vmax)`` followed by a ``Colormap`` lookup (under and over the range:
    the first and last entries; NaN: the first)."""
    span = (vmax - vmin) or 1.0
    x = (np.asarray(values, dtype=float) - vmin) * (n / span)
    return np.clip(np.nan_to_num(x, nan=0.0), 0, n - 1).astype(np.intp)
