"""Run ``heartsound serve`` in a child process on a free loopback port, for tests,
benchmarks and embedding: :func:`served` starts it, waits until it answers and always
stops it (SIGTERM, then SIGKILL after a grace period)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import HeartsoundError

__all__ = ["free_port", "served", "Served"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running server: ``url`` (``http://127.0.0.1:<port>``), ``process``,
    ``start_s`` (seconds from spawn to the first answer of ``/api/health``) and
    ``stderr`` (a file with what it printed)."""

    url: str
    process: subprocess.Popen
    start_s: float
    stderr: Path


def _ready(url: str, token: str | None) -> bool:
    req = urllib.request.Request(url + "/api/health")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status == 200
    except urllib.error.HTTPError:  # it answered (e.g. 401 without the token)
        return True
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def served(folder: str | Path | None = None, *, args: Sequence[str] = (),
           token: str | None = None, host: str = "127.0.0.1", timeout_s: float = 60.0,
           log_dir: str | Path | None = None, env: dict[str, str] | None = None
           ) -> Iterator[Served]:
    """``python -m heartsound serve [folder] --host host --port <free> [--token] *args``.

    Raises
    ------
    HeartsoundError
        The server exited or did not answer within ``timeout_s`` (its stderr is quoted).
    """
    port = free_port()
    cmd = [sys.executable, "-m", "heartsound", "serve", *([str(folder)] if folder else []),
           "--host", host, "--port", str(port), *(["--token", token] if token else []),
           *args]
    log = Path(log_dir or os.environ.get("TMPDIR", "/tmp")) / f"heartsound-serve-{port}.log"
    fh = open(log, "w+b")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    url = f"http://{host}:{port}"
    try:
        while not _ready(url, token):
            if proc.poll() is not None or time.perf_counter() - t0 > timeout_s:
                fh.seek(0)
                raise HeartsoundError(f"heartsound serve did not start: "
                                      f"{fh.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield Served(url, proc, time.perf_counter() - t0, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        fh.close()
