"""``heartsound serve``: a local web app and HTTP API over the one result contract.

:func:`heartsound.pipeline.analyze` gives an :class:`~heartsound.Analysis`; every answer is
``Analysis.to_dict()`` through :mod:`heartsound.serialize` (the JSON of ``heartsound
analyze --json``). The modules:

* :mod:`.app`: :func:`create_app`, the FastAPI application (routes, errors, token);
* :mod:`.store`: the recordings of FOLDER and of uploads, their results (cached), the
  list with its sort and filter;
* :mod:`.safety`: paths confined to FOLDER, the token, names the user may save under;
* :mod:`.uploads`: multipart bodies streamed to a private folder with a size limit;
* :mod:`.jobs`: the bounded analysis pool (fixed threads, bounded queue, 503 when full);
* :mod:`.signals`: waveform envelope, spectrogram image and WAV for the browser;
* :mod:`.corrections`: corrected segmentations (validation, CirCor TSV, comparison).

fastapi, uvicorn and python-multipart are the ``web`` extra; importing this package
imports none of them (:func:`create_app` does).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """:func:`heartsound.web.app.create_app` (imports FastAPI)."""
    from .app import create_app as _create

    return _create(*args, **kwargs)
