"""Download the public corpora: resumable, checksummed, safely extracted.

:data:`DATASETS` describes each corpus (where to get it, its licence, which files
identify an extracted copy). :func:`download` fetches its archives with :func:`fetch`
(HTTP ``Range`` resume from a ``.part`` file, sha256 verification, atomic rename, a
tqdm progress bar) and unpacks them with :func:`extract` (no member may leave the target
folder). Only the standard library's ``urllib`` talks to the network, and only when these
functions are called.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

from ..errors import DatasetError, ParameterError

__all__ = ["Remote", "DatasetInfo", "DATASETS", "info", "fetch", "extract", "download",
           "sha256_file", "published_sha256", "find_root", "find_local"]

logger = logging.getLogger(__name__)

_USER_AGENT = "heartsound-datasets (python urllib)"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Remote:
    """One file of a corpus on a server.

    Attributes
    ----------
    url : str
        Where to fetch it.
    filename : str
        Local name in the download folder.
    sha256 : str or None
        Known checksum (hex); None when no official value is known.
    sha256sums_url : str or None
        A ``SHA256SUMS`` listing published by the server that may contain ``filename``.
    extract : bool
        Unpack it (zip/tar) after download; otherwise copy it into the corpus root.
    """

    url: str
    filename: str
    sha256: str | None = None
    sha256sums_url: str | None = None
    extract: bool = True


@dataclass(frozen=True)
class DatasetInfo:
    """What :func:`download` and ``heartsound datasets list`` know about a corpus.

    ``marker`` is a path, relative to the corpus root, that identifies an extracted copy
    (the root is the folder :func:`heartsound.datasets.read` takes). ``verify`` maps
    paths under the root to sha256 values checked after extraction.
    """

    name: str
    description: str
    licence: str
    size: str
    homepage: str
    files: tuple[Remote, ...]
    marker: str
    verify: dict[str, str] = field(default_factory=dict)
    citation: str = ""


DATASETS: dict[str, DatasetInfo] = {
    "physionet2016": DatasetInfo(
        name="physionet2016",
        description="PhysioNet/CinC Challenge 2016 training set: 3240 PCG recordings "
                    "(training-a ... training-f), normal/abnormal",
        licence="ODC-By 1.0",
        size="~0.3 GB (20.2 h of 2 kHz 16-bit WAV, plus ECG of training-a)",
        homepage="https://physionet.org/content/challenge-2016/1.0.0/",
        files=(Remote(
            url="https://physionet.org/files/challenge-2016/1.0.0/training.zip",
            filename="training.zip",
            sha256sums_url="https://physionet.org/files/challenge-2016/1.0.0/SHA256SUMS.txt",
        ),),
        marker="training-a/REFERENCE.csv",
        citation="Liu C et al. Physiol Meas 2016;37(12):2181-2213",
    ),
    "circor2022": DatasetInfo(
        name="circor2022",
        description="CirCor DigiScope Phonocardiogram Dataset v1.0.3 (PhysioNet Challenge "
                    "2022 training set): 942 patients, 3163 recordings, murmur labels, "
                    "S1/S2 segmentation",
        licence="ODC-By 1.0",
        size="~0.6 GB (20.1 h of 4 kHz 16-bit WAV)",
        homepage="https://physionet.org/content/circor-heart-sound/1.0.3/",
        files=(Remote(
            url="https://physionet.org/static/published-projects/circor-heart-sound/"
                "the-circor-digiscope-phonocardiogram-dataset-1.0.3.zip",
            filename="the-circor-digiscope-phonocardiogram-dataset-1.0.3.zip",
        ),),
        marker="training_data.csv",
        # sha256 of the v1.0.3 training_data.csv as listed in PhysioNet's SHA256SUMS.txt
        verify={"training_data.csv":
                "ed10e63a2079639d475f72473d0ca1cee49fa82ea7c23fff9c6c6e8b0621d205"},
        citation="Oliveira J et al. IEEE JBHI 2022;26(6):2524-2535",
    ),
    "pascal2011": DatasetInfo(
        name="pascal2011",
        description="PASCAL Classifying Heart Sounds Challenge 2011, sets A and B "
                    "(Kaggle 'Heartbeat Sounds' layout) with the original set A S1/S2 "
                    "annotations",
        licence="CC0 (Kaggle release); cite the challenge",
        size="~0.2 GB (GitHub snapshot of the Kaggle release; 832 WAV files)",
        homepage="http://www.peterjbentley.com/heartchallenge/",
        files=(
            # The original site serves per-class zips in another layout; this pinned
            # GitHub snapshot is a complete copy of the Kaggle release (set_a/, set_b/,
            # set_a.csv, set_b.csv), checked below by the known CSV checksums.
            Remote(
                url="https://github.com/FrankDattalo/heartbeat-sounds/archive/"
                    "ee0010531e4484d926c8ca21bf2b6874e07854c2.zip",
                filename="heartbeat-sounds-ee00105.zip",
            ),
            Remote(
                url="https://raw.githubusercontent.com/shantanu10/Heart-Sound-Segmentation/"
                    "ce9993baffd79835b3c3f5fa7ffbdf0c6fb8bc65/Atraining_normal_seg.csv",
                filename="Atraining_normal_seg.csv",
                sha256="af099629603111c886e3ce92b280ad0d08072a91c0ddad1f56e6c11e502ec864",
                extract=False,
            ),
        ),
        marker="set_a.csv",
        verify={
            "set_a.csv": "ec15707ebf8043fa79fc6f0c3c41a31d68187d79ee86bfcdff09807e3f8c3bfe",
            "set_b.csv": "f267e120ea894692a6e1792bd0e80e06f1ad9ba154b125a347d54713ab431e75",
            "set_a_timing.csv":
                "4390b9aa34543b93ce59d5114b535221bcedfaa2cf319f09a8c7d3777502bc7b",
        },
        citation="Bentley P et al. The PASCAL Classifying Heart Sounds Challenge 2011",
    ),
}


def info(name: str) -> DatasetInfo:
    """Return the :class:`DatasetInfo` of corpus ``name``.

    Raises
    ------
    ParameterError
        Unknown name; the message lists the valid ones.
    """
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ParameterError(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}") from None


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open(url: str, *, start: int = 0, timeout: float = 60.0):
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


def _check_url(url: str) -> None:
    if not url.lower().startswith(("http://", "https://")):
        raise ParameterError(f"only http(s) URLs can be downloaded, got {url!r}")


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
    DatasetError
        The server cannot be reached or answers with an error, the connection breaks
        more than ``retries`` times (the ``.part`` file is kept: run again to resume), or
        the checksum does not match (the partial file is deleted).
    """
    _check_url(url)
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


class _Interrupted(Exception):
    """The connection broke mid-transfer (resumable)."""


def _fetch_once(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    start = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(url, start=start, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:
            # Range not satisfiable: the .part file already holds the whole file.
            total = (exc.headers.get("Content-Range") or "").rpartition("/")[2]
            if total.isdigit() and int(total) == start:
                return
            part.unlink()
            raise _Interrupted("server refused to resume; starting over") from None
        raise DatasetError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        if isinstance(exc, (ConnectionError, TimeoutError, HTTPException)):
            raise _Interrupted(str(exc)) from None
        reason = getattr(exc, "reason", exc)
        raise DatasetError(f"cannot download {url}: {reason}") from None
    with response:
        status = getattr(response, "status", 200)
        if start and status == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {start}-"):
                part.unlink()
                raise _Interrupted(f"unexpected Content-Range {content_range!r}")
            mode = "ab"
        else:
            start, mode = 0, "wb"  # the server sent the whole file
        length = response.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None
        total = start + remaining if remaining is not None else None
        from tqdm.auto import tqdm

        received = 0
        with open(part, mode) as fh, tqdm(total=total, initial=start, unit="B",
                                          unit_scale=True, unit_divisor=1024,
                                          desc=part.name[:-5], disable=not progress,
                                          leave=False) as bar:
            try:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
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
        if remaining is not None and received < remaining:
            raise _Interrupted(f"got {received} of {remaining} bytes")


def _safe_target(root: Path, name: str) -> Path:
    if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise DatasetError(f"archive member {name!r} has an absolute path; refusing to extract")
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise DatasetError(f"archive member {name!r} would be written outside {root}; "
                           f"refusing to extract")
    return target


def extract(archive: str | Path, to: str | Path) -> list[Path]:
    """Unpack a zip or tar archive into ``to``, refusing members that would escape it.

    Members with absolute paths, ``..`` components, or links (symbolic or hard) are
    rejected before anything is written.

    Returns
    -------
    list of Path
        The extracted files.

    Raises
    ------
    DatasetError
        Not a zip/tar archive, corrupt, or an unsafe member.
    """
    archive, to = Path(archive), Path(to)
    to.mkdir(parents=True, exist_ok=True)
    root = to.resolve()
    written: list[Path] = []
    if zipfile.is_zipfile(archive):
        try:
            with zipfile.ZipFile(archive) as zf:
                members = zf.infolist()
                for m in members:
                    _safe_target(root, m.filename)
                    if stat.S_ISLNK(m.external_attr >> 16):
                        raise DatasetError(f"{archive}: member {m.filename!r} is a "
                                           f"symbolic link; refusing to extract")
                for m in members:
                    target = _safe_target(root, m.filename)
                    if m.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(m) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
                    written.append(target)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise DatasetError(f"{archive}: corrupt zip archive ({exc})") from None
        return written
    try:
        is_tar = tarfile.is_tarfile(archive)
    except OSError:
        is_tar = False
    if not is_tar:
        raise DatasetError(f"{archive}: not a zip or tar archive")
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _safe_target(root, m.name)
                if not (m.isfile() or m.isdir()):
                    raise DatasetError(f"{archive}: member {m.name!r} is a link or device; "
                                       f"refusing to extract")
            for m in members:
                target = _safe_target(root, m.name)
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(m)
                if src is None:
                    continue
                with src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                written.append(target)
    except tarfile.TarError as exc:
        raise DatasetError(f"{archive}: corrupt tar archive ({exc})") from None
    return written


def find_root(folder: str | Path, marker: str, *, max_depth: int = 3) -> Path | None:
    """The shallowest folder under ``folder`` (itself included) that holds ``marker``."""
    folder = Path(folder)
    frontier = [folder]
    for _ in range(max_depth + 1):
        nxt: list[Path] = []
        for d in sorted(frontier):
            if (d / marker).is_file():
                return d
            try:
                nxt.extend(p for p in d.iterdir() if p.is_dir() and p.name != "__MACOSX")
            except OSError:
                continue
        frontier = nxt
    return None


def find_local(name: str, data_dir: str | Path | None = None) -> Path | None:
    """Where corpus ``name`` is found under ``data_dir`` (default ``$HEARTSOUND_DATA``).

    Looks in ``<data_dir>/<name>`` and below it, then ``data_dir`` itself.
    """
    meta = info(name)
    if data_dir is None:
        data_dir = os.environ.get("HEARTSOUND_DATA")
        if not data_dir:
            return None
    base = Path(data_dir)
    if (base / name).is_dir():
        found = find_root(base / name, meta.marker)
        if found is not None:
            return found
    return base if (base / meta.marker).is_file() else None


def download(name: str, to: str | Path, *, url: str | None = None, sha256: str | None = None,
             progress: bool = True, retries: int = 3, keep_archives: bool = True) -> Path:
    """Download and unpack corpus ``name`` into folder ``to``.

    Each archive is fetched with :func:`fetch` into ``to`` and unpacked there; files
    that are not archives are copied into the corpus root. The checksum used is, in
    order: ``sha256`` (for the first file), the registry value, the value in the server's
    published ``SHA256SUMS`` (these apply to a mirror ``url`` too, which must serve the
    same file); when none is known the computed digest is logged. Files of
    known checksum inside the corpus (:attr:`DatasetInfo.verify`) are checked after
    unpacking.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    to : str or Path
        Download folder (created).
    url : str, optional
        Mirror URL replacing the first (main) archive's URL.
    sha256 : str, optional
        Expected sha256 of that archive, overriding the registry.
    progress : bool
        Progress bars on stderr.
    retries : int
        Resume attempts after a broken connection, per file.
    keep_archives : bool
        Keep the downloaded archives (True) or delete them after unpacking.

    Returns
    -------
    Path
        The corpus root (pass it to :func:`heartsound.datasets.read`).

    Raises
    ------
    ParameterError
        Unknown name or a non-http(s) URL.
    DatasetError
        Download, checksum or extraction failure, or no corpus found after unpacking.
    """
    meta = info(name)
    if url is not None:
        _check_url(url)
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    loose: list[Path] = []
    for k, remote in enumerate(meta.files):
        this_url = url if (k == 0 and url is not None) else remote.url
        expected = sha256 if (k == 0 and sha256 is not None) else remote.sha256
        # a mirror (--url) must serve the same file, so the published value applies too
        if expected is None and remote.sha256sums_url:
            expected = published_sha256(remote.sha256sums_url, remote.filename)
            if expected is None:
                logger.warning("%s: no published checksum found for %s",
                               remote.sha256sums_url, remote.filename)
        path = to / remote.filename
        digest = fetch(this_url, path, sha256=expected, retries=retries, progress=progress)
        if expected is None:
            logger.warning("%s: no known checksum; sha256 of the download is %s "
                           "(pass --sha256 to check it next time)", path.name, digest)
        else:
            logger.info("%s: sha256 %s verified", path.name, digest)
        if remote.extract:
            extract(path, to)
            if not keep_archives:
                path.unlink()
        else:
            loose.append(path)
    root = find_root(to, meta.marker)
    if root is None:
        raise DatasetError(f"{to}: after unpacking, no folder holds {meta.marker}; "
                           f"the archive does not have the {name} layout")
    for path in loose:
        if path.parent.resolve() != root.resolve():
            shutil.copy2(path, root / path.name)
    for rel, expected_digest in meta.verify.items():
        target = root / rel
        if not target.is_file():
            raise DatasetError(f"{root}: {rel} is missing after unpacking")
        digest = sha256_file(target)
        if digest != expected_digest:
            raise DatasetError(f"{target}: sha256 {digest}, expected {expected_digest} "
                               f"(not the expected release)")
    return root
