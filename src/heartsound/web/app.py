"""The FastAPI application of ``heartsound serve`` (:func:`create_app`).

Every result is ``Analysis.to_dict()`` as :func:`heartsound.serialize.json_text` writes it,
the JSON of ``heartsound analyze --json`` (``source`` is the recording's name or id, not a
server path). Errors are JSON ``{"detail": message, "status": code}``: 401/403 token,
404 no such recording (any path outside FOLDER too), 409 a file in the way, 413 too large,
415 not audio (by content), 422 too short, silent or bad options, 503 busy (with
``Retry-After``). Routes are in :mod:`heartsound.web.routes`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from .._version import __version__
from ..errors import (AudioError, HeartsoundError, ModelError, NotAudioError, OutputError,
                      ParameterError)
from .guard import Guard
from .jobs import AnalysisPool, Busy
from .routes import add_routes
from .safety import Forbidden, NotFound
from .store import Store
from .uploads import TooLarge

__all__ = ["create_app", "STATIC", "DEFAULT_MAX_UPLOAD_BYTES", "status_of"]

#: The front end (plain HTML, JS and CSS; no build step).
STATIC = Path(__file__).parent / "static"
#: Default upload limit (bytes): a 10-minute 44.1 kHz 16-bit stereo WAV fits.
DEFAULT_MAX_UPLOAD_BYTES = 128 << 20
#: Multipart framing allowed on top of the file's size (bytes).
_FRAMING = 64 << 10

_STATUS: list[tuple[type[BaseException], int]] = [
    (NotFound, 404), (Forbidden, 403), (TooLarge, 413), (NotAudioError, 415),
    (Busy, 503), (OutputError, 409), (ModelError, 500), (ParameterError, 422),
    (AudioError, 422), (HeartsoundError, 422)]


def status_of(exc: BaseException) -> int:
    """The HTTP status of a heartsound error (see the module docstring)."""
    return next(code for kind, code in _STATUS if isinstance(exc, kind))


def _error_response(request: Request, exc: Exception) -> JSONResponse:
    code = status_of(exc)
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Busy) else None
    return JSONResponse({"detail": str(exc), "status": code}, status_code=code,
                        headers=headers)


def _http_response(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": str(exc.detail), "status": exc.status_code},
                        status_code=exc.status_code, headers=exc.headers)


def _invalid_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    parts = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
             for e in exc.errors()]
    return JSONResponse({"detail": "; ".join(parts), "status": 422}, status_code=422)


def create_app(folder: str | Path | None = None, *, token: str | None = None,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, workers: int = 2,
               queue: int = 64, allowed_hosts: set[str] | None = None) -> Any:
    """The ASGI app of ``heartsound serve``.

    Parameters
    ----------
    folder : str or Path, optional
        Recordings to browse (read-only) and where corrected segmentations are saved;
        nothing outside it is reachable. ``None``: uploads only, no saving.
    token : str, optional
        Required on every request (``Authorization: Bearer``, ``?token=`` or the cookie
        set when the page is opened with ``?token=``).
    max_upload_bytes : int
        Largest upload; enforced while the body streams in (413).
    workers, queue : int
        Analysis threads and the calls that may wait for one; more get 503.
    allowed_hosts : set of str, optional
        ``Host`` names accepted; default loopback names only without a token.

    Returns
    -------
    Guard
        The FastAPI app (``.app``) wrapped by the token/host/origin/size checks.

    Raises
    ------
    ParameterError
        ``folder`` is not a folder, or a limit is not positive.
    """
    if folder is not None and not Path(folder).is_dir():
        raise ParameterError(f"{folder}: not a folder")
    if int(max_upload_bytes) < 1:
        raise ParameterError(f"max_upload_bytes must be >= 1, got {max_upload_bytes}")
    pool = AnalysisPool(workers, queue)
    private = tempfile.TemporaryDirectory(prefix="heartsound-serve-")
    store = Store(None if folder is None else Path(folder), Path(private.name))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            pool.shutdown()
            shutil.rmtree(private.name, ignore_errors=True)
            private.cleanup()

    app = FastAPI(title="heartsound", version=__version__, lifespan=lifespan,
                  description="Heart-sound analysis: the JSON of `heartsound analyze --json`"
                              " over HTTP, and a viewer to review, listen to and correct "
                              "segmentations. Research software; not a medical device.")
    app.state.store, app.state.pool = store, pool
    app.state.max_upload = int(max_upload_bytes)
    app.state.private = private
    app.add_exception_handler(HeartsoundError, _error_response)
    app.add_exception_handler(HTTPException, _http_response)
    app.add_exception_handler(RequestValidationError, _invalid_response)
    add_routes(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return Guard(app, token=token, allowed_hosts=allowed_hosts,
                 max_body=int(max_upload_bytes) + _FRAMING)
