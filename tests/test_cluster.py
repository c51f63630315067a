"""batch on a Dask cluster: the same outputs, summary.csv and summary.parquet as local
batch on real recordings, with a LocalCluster and with a cluster started as separate
``dask scheduler`` / ``dask worker`` processes; a worker killed mid-run, a corrupt file, a
file that kills its workers, an interrupted then resumed run; models loaded once per
worker. Every cluster runs on 127.0.0.1 and is closed in its fixture's finally.

Faults inside the workers are injected with a Dask worker plugin (:class:`_Faults`, sent
by value) that wraps :func:`heartsound.pipeline.analyze` in each worker process, the way
the local batch tests wrap functions of the worker pool: a file named ``poison*`` ends its
worker with ``os._exit``; the file ``HOLD`` waits while a flag file exists.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from optional_deps import need

distributed = need("distributed")
pq = need("pyarrow.parquet")
cloudpickle = need("cloudpickle")

from heartsound.batch import run_batch  # noqa: E402
from heartsound.batch_cluster import (ClusterError, DaskExecutor,  # noqa: E402
                                      files_per_task, local_cluster)
from heartsound.bundle import REGISTRY  # noqa: E402
from heartsound.cli import main as cli_main  # noqa: E402
from heartsound.errors import ParameterError  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/

REPO = Path(__file__).resolve().parents[1]
#: Short real recordings: PhysioNet 2016 (2 kHz), CirCor (4 kHz), PASCAL set A (44.1 kHz).
RECORDINGS = ["physionet2016/training-b/b0033.flac", "physionet2016/training-d/d0001.flac",
              "physionet2016/training-b/b0409.flac", "physionet2016/training-b/b0037.flac",
              "circor2022/recordings/9979_AV.flac",
              "pascal2011/setA/extrahls__201101160808.flac"]
#: The recording held back by the flag file of :class:`_Faults`.
HOLD = "b0037.flac"
TIMEOUT = 120  # seconds: bound of every run here


class _Faults(distributed.WorkerPlugin):
    """Wraps ``heartsound.pipeline.analyze`` in each worker (and each restarted one)."""

    name = "heartsound-test-faults"

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def setup(self, worker) -> None:
        import heartsound.pipeline as pipeline

        real = getattr(pipeline, "_unwrapped_analyze", pipeline.analyze)
        flag = self.flag

        def analyze(path, *args, **kwargs):
            name = os.path.basename(str(path))
            if name.startswith("poison"):
                os._exit(7)  # as a segfault or the OOM killer would end the worker
            deadline = time.monotonic() + 60
            while name == HOLD and os.path.exists(flag) and time.monotonic() < deadline:
                time.sleep(0.05)
            return real(path, *args, **kwargs)

        pipeline._unwrapped_analyze = real
        pipeline.analyze = analyze


@pytest.fixture(autouse=True)
def _bounded():
    """No test here may hang: SIGALRM after 240 s raises in the test (a wait on Dask
    futures or on a process is interrupted by it)."""
    def expire(signum, frame):
        raise TimeoutError("cluster test still running after 240 s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(240)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def inputs(data_root, tmp_path_factory) -> Path:
    """The recordings (symlinks) and a corrupt WAV in one folder."""
    root = tmp_path_factory.mktemp("cluster") / "in"
    root.mkdir()
    for rel in RECORDINGS:
        (root / Path(rel).name).symlink_to(data_root / rel)
    (root / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64))
    return root


def _run(root: Path, out: Path, **kw):
    kw = {"plots": True, "progress": False, **kw}
    t0 = time.monotonic()
    res = run_batch(root, out, **kw)
    assert time.monotonic() - t0 < TIMEOUT
    return res


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> Path:
    """Local batch (``--jobs 2``) on the inputs."""
    out = tmp_path_factory.mktemp("reference") / "out"
    res = _run(inputs, out, jobs=2)
    assert (res.n_files, res.n_ok, res.n_error) == (7, 6, 1)
    return out


@pytest.fixture(scope="module")
def flag(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("flag") / "hold"


@pytest.fixture(scope="module")
def cluster(flag):
    """A LocalCluster of 2 worker processes (as ``--scheduler local:2`` starts) with a
    client of the test's own and the fault plugin."""
    lc = local_cluster(2)
    client = None
    try:
        client = distributed.Client(lc, set_as_default=False, timeout=30)
        client.wait_for_workers(2, timeout=60)
        client.register_plugin(_Faults(str(flag)))
        yield lc.scheduler_address, client
    finally:
        if client is not None:
            client.close()
        lc.close()


def _default_sigint() -> None:
    """In the child before exec: SIGINT to its default, so that Python turns it into
    KeyboardInterrupt even when the tests run where SIGINT is ignored (a shell's
    background job, ``nohup``), which a child would otherwise inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dask_processes(flag):
    """``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1`` as subprocesses on
    127.0.0.1 (the scheduler told to allow one death per task and to give each worker
    one task at a time, as docs/cluster.md says)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
               [str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
           "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    client = None
    try:
        procs.append(subprocess.Popen(
            [*dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--host",
             "127.0.0.1", "--no-dashboard", "--death-timeout", "60"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        client = distributed.Client(address, set_as_default=False, timeout=60)
        client.wait_for_workers(2, timeout=90)
        client.register_plugin(_Faults(str(flag)))
        yield address, client
    finally:
        if client is not None:
            client.close()
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _outputs(out: Path) -> dict[str, bytes]:
    """Every file a batch wrote (not the lock), JSON without timestamps."""
    got = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            data = p.read_bytes()
            if p.suffix == ".json":
                data = json.dumps(_untimed(json.loads(data)), sort_keys=True).encode()
            got[str(p.relative_to(out))] = data
    return got


def _untimed(d):
    """``d`` without keys that hold a time of day (none today; kept for the comparison's
    sake if one is added)."""
    if isinstance(d, dict):
        return {k: _untimed(v) for k, v in d.items()
                if not (k.endswith("_at") or k in ("timestamp", "created", "date"))}
    return [_untimed(v) for v in d] if isinstance(d, list) else d


def _assert_same(out: Path, reference: Path, *, png: bool = True) -> None:
    got, want = _outputs(out), _outputs(reference)
    if not png:
        want = {k: v for k, v in want.items() if not k.endswith(".png")}
    assert sorted(got) == sorted(want)
    assert [k for k in want if got[k] != want[k]] == []
    assert pq.read_table(out / "summary.parquet").equals(
        pq.read_table(reference / "summary.parquet"))


def _misses(client) -> dict[str, int]:
    """Model loads (ONNX sessions and JSON models) made so far in each worker."""
    return client.run(lambda: __import__("heartsound.bundle").bundle._load.cache_info().misses)


@pytest.mark.slow
def test_local_cluster_same_outputs_models_loaded_once(inputs, reference, cluster, tmp_path):
    address, client = cluster
    res = _run(inputs, tmp_path / "out", scheduler=address)
    assert (res.n_files, res.n_ok, res.n_error, res.worker_deaths) == (7, 6, 1, [])
    assert res.errors[0][0] == "corrupt.wav" and "not a readable audio" in res.errors[0][1]
    _assert_same(tmp_path / "out", reference)
    # again, 3 files per task: the same outputs, and not one more model load in any worker
    before = _misses(client)
    assert all(0 < m <= len(REGISTRY) for m in before.values()), before
    res = _run(inputs, tmp_path / "again", scheduler=address, files_per_task=3)
    assert (res.n_ok, res.n_error) == (6, 1)
    _assert_same(tmp_path / "again", reference)
    assert _misses(client) == before


@pytest.mark.slow
def test_worker_killed_mid_run_costs_nothing(inputs, reference, cluster, tmp_path, flag):
    """The worker holding the held-back file is killed (SIGKILL) while it runs it (the
    other files are done: it is the one busy worker): the task is run again on another
    worker; every file is as in local batch."""
    address, client = cluster
    pids = client.run(os.getpid)
    killed: list[int] = []

    def harness():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            done = len(list((tmp_path / "out").glob("*.heartsound.json")))
            busy = [w for w, keys in client.processing().items() if keys]
            if done == 5 and len(busy) == 1:
                killed.append(pids[busy[0]])
                os.kill(killed[0], signal.SIGKILL)
                flag.unlink()  # the held file may go on, on another worker
            time.sleep(0.02)

    flag.write_text("hold")
    th = threading.Thread(target=harness)
    th.start()
    try:
        res = _run(inputs, tmp_path / "out", scheduler=address)
    finally:
        th.join()
        flag.unlink(missing_ok=True)
    assert killed and killed[0] not in client.run(os.getpid).values()
    assert (res.n_ok, res.n_error) == (6, 1)
    _assert_same(tmp_path / "out", reference)


@pytest.mark.slow
def test_file_that_kills_its_workers_is_recorded_and_the_run_goes_on(
        inputs, cluster, tmp_path):
    """Two files per task: the task holding ``poison.flac`` and ``d0001.flac`` kills two
    workers, is split into one task per file, and only the poison is recorded failed."""
    address, _ = cluster
    root = tmp_path / "in"
    root.mkdir()
    for name in ("b0033.flac", "d0001.flac", "b0409.flac"):
        (root / name).symlink_to(inputs / name)
    (root / "poison.flac").symlink_to(inputs / "d0001.flac")
    res = _run(root, tmp_path / "out", scheduler=address, plots=False, files_per_task=2)
    assert (res.n_files, res.n_ok, res.n_error) == (4, 3, 1)
    [(path, msg)] = res.errors
    assert path == "poison.flac" and "worker process died" in msg and "2 tries" in msg
    assert res.worker_deaths == [(path, msg)]
    rows = pq.read_table(tmp_path / "out" / "summary.parquet").to_pylist()
    assert [(r["path"], r["status"]) for r in rows] == [
        ("b0033.flac", "ok"), ("b0409.flac", "ok"), ("d0001.flac", "ok"),
        ("poison.flac", "error")]


@pytest.mark.slow
def test_dask_processes_same_outputs_interrupted_client_resumes(
        inputs, reference, dask_processes, tmp_path, flag):
    """A cluster of ``dask scheduler`` + ``dask worker`` processes; a client (``heartsound
    batch --scheduler``) interrupted with SIGINT while the held file runs exits 130 with
    that file pending; run again, it resumes (only that file and the corrupt one are done
    again, or only the corrupt one when the held task, which the interrupted client no
    longer waits for, ended first) and ends with local batch's outputs, every one of
    them made by this cluster."""
    address, _ = dask_processes
    out = tmp_path / "resumed"
    flag.write_text("hold")
    cmd = [sys.executable, "-m", "heartsound", "batch", str(inputs), "--out", str(out),
           "--scheduler", address, "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    client = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 60
        while len(list(out.glob("*.heartsound.json"))) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        client.send_signal(signal.SIGINT)
        _, err = client.communicate(timeout=60)
    finally:
        client.kill()
        flag.unlink(missing_ok=True)
    assert client.returncode == 130, err.decode()
    rows = {r["path"]: r["status"] for r in
            pq.read_table(out / "summary.parquet").to_pylist()}
    assert rows[HOLD] == "pending" and set(rows.values()) <= {"ok", "error", "pending"}
    res = _run(inputs, out, scheduler=address)
    assert (res.n_ok, res.n_error) == (6, 1) and res.n_resumed in (5, 6)
    _assert_same(out, reference)


@pytest.mark.slow
def _group_alive(pgid: int, *, within: float) -> list[str]:
    """Processes of group ``pgid`` still running (not zombies) after up to ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        ps = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True,
                            text=True).stdout.splitlines()
        alive = [line for line in ps if line.split()[0] == str(pgid)
                 and not line.split()[1].startswith("Z")]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def test_cli_local_cluster_ctrl_c_then_resume(inputs, reference, tmp_path, capsys):
    """``--scheduler local:2`` starts its own LocalCluster; Ctrl-C (SIGINT to the whole
    process group, workers included) after the first outputs: exit 130, one line, no
    traceback, no worker left; the same command again resumes and ends with local batch's
    outputs."""
    out = tmp_path / "out"
    args = ["batch", str(inputs), "--out", str(out), "--scheduler", "local:2",
            "--no-progress", "--no-plots", "--files-per-task", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.Popen([sys.executable, "-m", "heartsound", *args], env=env,
                         start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 90
        while not list(out.glob("*.heartsound.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    err = err.decode()
    assert p.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "heartsound: interrupted"
    assert _group_alive(p.pid, within=15) == []  # the LocalCluster's workers ended too
    rc = cli_main(args)
    cap = capsys.readouterr()
    assert rc == 1 and "7 audio files: 6 ok" in cap.out and "corrupt.wav" in cap.err
    _assert_same(out, reference, png=False)


def test_bad_scheduler_values(inputs, tmp_path, capsys):
    for bad in ("local:0", "local:two", " "):
        with pytest.raises(ParameterError, match="--scheduler"):
            run_batch(inputs, tmp_path / "out", scheduler=bad)
    assert cli_main(["batch", str(inputs), "--out", str(tmp_path / "o"),
                     "--scheduler", "local:-1"]) == 2
    assert "local:N needs N >= 1" in capsys.readouterr().err
    with pytest.raises(ParameterError, match="--files-per-task must be 1 or more"):
        run_batch(inputs, tmp_path / "out", scheduler="local:1", files_per_task=0)
    # about 4 tasks per worker thread, at most 16 files, at least 1
    assert [files_per_task(n, t) for n, t in ((7, 2), (60, 2), (10_000, 100), (10**6, 100),
                                               (5, 0))] == [1, 7, 16, 16, 5]
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"):
        with DaskExecutor(f"tcp://127.0.0.1:{_free_port()}", timeout=2):
            pass
    assert time.monotonic() - t0 < 30


def test_core_and_local_batch_do_not_import_dask():
    code = ("import sys, heartsound, heartsound.batch, heartsound.cli.batch; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'dask', 'distributed', 'pyarrow'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")}, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
