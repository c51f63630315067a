"""Download the public corpora: resumable, checksummed, safely extracted.

:data:`DATASETS` describes each corpus (where to get it, its licence, which files
identify an extracted copy). :func:`download` fetches its archives with :func:`fetch`
(HTTP ``Range`` resume from a ``.part`` file, sha256 verification, atomic rename, a
tqdm progress bar) and unpacks them with :func:`extract` (no member may leave the target
folder). Only the standard library's ``urllib`` talks to the network, and only when these
functions are called.

The transfer lives in :mod:`heartsound.datasets._remote` and the unpacking in
:mod:`heartsound.datasets._archive`; both are re-exported here.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DatasetError, ParameterError
from ._archive import extract, find_root
from ._remote import check_url, fetch, published_sha256, sha256_file

__all__ = ["Remote", "DatasetInfo", "DATASETS", "info", "fetch", "extract", "download",
           "sha256_file", "published_sha256", "find_root", "find_local"]

logger = logging.getLogger(__name__)


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
        check_url(url)
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    loose: list[Path] = []
    for k, remote in enumerate(meta.files):
        main = k == 0
        path = _fetch_remote(remote, to, url=url if main else None,
                             sha256=sha256 if main else None,
                             progress=progress, retries=retries)
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
    _verify(root, meta.verify)
    return root


def _fetch_remote(remote: Remote, to: Path, *, url: str | None, sha256: str | None,
                  progress: bool, retries: int) -> Path:
    """Fetch one file of a corpus into ``to``, checked against the best known sha256.

    ``url`` and ``sha256`` override the registry (a mirror of the main archive).
    """
    expected = sha256 if sha256 is not None else remote.sha256
    # a mirror (--url) must serve the same file, so the published value applies too
    if expected is None and remote.sha256sums_url:
        expected = published_sha256(remote.sha256sums_url, remote.filename)
        if expected is None:
            logger.warning("%s: no published checksum found for %s",
                           remote.sha256sums_url, remote.filename)
    path = to / remote.filename
    digest = fetch(url if url is not None else remote.url, path, sha256=expected,
                   retries=retries, progress=progress)
    if expected is None:
        logger.warning("%s: no known checksum; sha256 of the download is %s "
                       "(pass --sha256 to check it next time)", path.name, digest)
    else:
        logger.info("%s: sha256 %s verified", path.name, digest)
    return path


def _verify(root: Path, verify: dict[str, str]) -> None:
    """Check the known sha256 of files inside an unpacked corpus."""
    for rel, expected in verify.items():
        target = root / rel
        if not target.is_file():
            raise DatasetError(f"{root}: {rel} is missing after unpacking")
        digest = sha256_file(target)
        if digest != expected:
            raise DatasetError(f"{target}: sha256 {digest}, expected {expected} "
                               f"(not the expected release)")
