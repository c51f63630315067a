"""HTTP transfer for :mod:`heartsound.datasets.download`: resume, retry, checksum.

:func:`fetch` writes to ``<dest>.part``, asks for the missing bytes (HTTP ``Range``)
when that file exists, retries a broken connection by resuming, checks the sha256 and
renames the file into place atomically. Only the standard library's ``urllib`` talks
to the network, and only when these functions are called.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from http.client import HTTPException, HTTPResponse
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import DatasetError, ParameterError

__all__ = ["CHUNK", "sha256_file", "published_sha256", "check_url", "fetch"]

logger = logging.getLogger("heartsound.datasets.download")

#: Bytes per read when copying or hashing files (1 MiB).
CHUNK = 1 << 20
_USER_AGENT = "heartsound-datasets (python urllib)"


class _Interrupted(Exception):
    """The connection broke mid-transfer (resumable)."""


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_url(url: str) -> None:
    """Raise :class:`~heartsound.errors.ParameterError` unless ``url`` is http(s)."""
    if not url.lower().startswith(("http://", "https://")):
        raise ParameterError(f"only http(s) URLs can be downloaded, got {url!r}")


def _open(url: str, *, start: int = 0, timeout: float = 60.0) -> HTTPResponse:
    headers = {"User-Agent": _USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(url, headers=headers)
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https only)


def published_sha256(sums_url: str, filename: str, *, timeout: float = 60.0) -> str | None:
    """Look ``filename`` up in a ``SHA256SUMS`` listing (``<hex>  <path>`` lines).

    Returns None when the listing cannot be fetched or does not name the file.
    """
    try:
        with _open(sums_url, timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        logger.warning("cannot fetch %s (%s)", sums_url, exc)
        return None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 64:
            path = parts[-1].lstrip("*")
            if path == filename or path.endswith("/" + filename):
                return parts[0].lower()
    return None


def fetch(url: str, dest: str | Path, *, sha256: str | None = None, retries: int = 3,
          progress: bool = True, timeout: float = 60.0) -> str:
    """Download ``url`` to ``dest``, resuming an earlier partial download.

    Bytes go to ``<dest>.part``; if that file exists, the request asks for the rest
    (HTTP ``Range``) and appends, or starts over when the server ignores the range. A
    broken connection is retried ``retries`` times, each time resuming. When complete,
    the sha256 is checked against ``sha256`` (if given) and the file is renamed to
    ``dest`` atomically. An existing ``dest`` with the right checksum is kept as is.

    Parameters
    ----------
    url : str
        http(s) URL.
    dest : str or Path
        Final file path; its folder is created.
    sha256 : str, optional
        Expected hex digest; None to accept any content (the digest is returned).
    retries : int
        Extra attempts after a broken connection.
    progress : bool
        Show a tqdm progress bar (on stderr).
    timeout : float
        Socket timeout in seconds.

    Returns
    -------
    str
        The sha256 hex digest of the downloaded file.

    Raises
    ------
    ParameterError
        ``url`` is not http(s).
    DatasetError
        The server cannot be reached or answers with an error, the connection breaks
        more than ``retries`` times (the ``.part`` file is kept: run again to resume), or
        the checksum does not match (the partial file is deleted).
    """
    check_url(url)
    dest = Path(dest)
    expected = sha256.lower() if sha256 else None
    if dest.is_file():
        digest = sha256_file(dest)
        if expected is None or digest == expected:
            logger.info("%s already present", dest)
            return digest
        raise DatasetError(f"{dest} exists but its sha256 is {digest}, expected "
                           f"{expected}; delete it to download again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        try:
            _fetch_once(url, part, progress=progress, timeout=timeout)
            break
        except _Interrupted as exc:
            attempt += 1
            if attempt > retries:
                raise DatasetError(f"download of {url} interrupted ({exc}); {part} keeps "
                                   f"{part.stat().st_size} bytes, run again to resume") from None
            logger.warning("download of %s interrupted (%s); resuming", url, exc)
    digest = sha256_file(part)
    if expected is not None and digest != expected:
        part.unlink()
        raise DatasetError(f"checksum mismatch for {url}: sha256 {digest}, expected "
                           f"{expected}; the download was deleted")
    os.replace(part, dest)
    return digest


def _fetch_once(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """One request for the bytes ``part`` is missing; raises :class:`_Interrupted`."""
    start = part.stat().st_size if part.is_file() else 0
    response = _request(url, part, start, timeout)
    if response is None:
        return  # the .part file already holds the whole file
    with response:
        start, mode = _resume_point(response, part, start)
        length = response.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None
        received = _copy_body(response, part, mode=mode, start=start,
                              remaining=remaining, progress=progress)
    if remaining is not None and received < remaining:
        raise _Interrupted(f"got {received} of {remaining} bytes")


def _request(url: str, part: Path, start: int, timeout: float) -> HTTPResponse | None:
    """Open ``url`` from byte ``start``; None when ``part`` is already complete."""
    try:
        return _open(url, start=start, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:
            # Range not satisfiable: the .part file may already hold the whole file.
            total = (exc.headers.get("Content-Range") or "").rpartition("/")[2]
            if total.isdigit() and int(total) == start:
                return None
            part.unlink()
            raise _Interrupted("server refused to resume; starting over") from None
        raise DatasetError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        if isinstance(exc, (ConnectionError, TimeoutError, HTTPException)):
            raise _Interrupted(str(exc)) from None
        reason = getattr(exc, "reason", exc)
        raise DatasetError(f"cannot download {url}: {reason}") from None


def _resume_point(response: HTTPResponse, part: Path, start: int) -> tuple[int, str]:
    """``(first byte, file mode)``: append on a matching 206, else rewrite from 0."""
    if start and getattr(response, "status", 200) == 206:
        content_range = response.headers.get("Content-Range", "")
        if not content_range.startswith(f"bytes {start}-"):
            part.unlink()
            raise _Interrupted(f"unexpected Content-Range {content_range!r}")
        return start, "ab"
    return 0, "wb"  # the server sent the whole file


def _copy_body(response: HTTPResponse, part: Path, *, mode: str, start: int,
               remaining: int | None, progress: bool) -> int:
    """Append or write the response body to ``part``; returns the bytes received."""
    total = start + remaining if remaining is not None else None
    received = 0
    with open(part, mode) as fh, tqdm(total=total, initial=start, unit="B",
                                      unit_scale=True, unit_divisor=1024,
                                      desc=part.name[:-5], disable=not progress,
                                      leave=False) as bar:
        try:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                fh.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, HTTPException) as exc:
            partial = getattr(exc, "partial", b"")  # http.client.IncompleteRead
            if isinstance(partial, bytes) and partial:
                fh.write(partial)
                received += len(partial)
            raise _Interrupted(f"{type(exc).__name__} after {start + received} bytes") \
                from None
    return received
