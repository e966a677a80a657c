"""UMAP and t-SNE in a helper process that imports and warms umap-learn while the JAX phases run.

umap-learn costs ~3 s to import and ~5 s more for numba to load its functions in every new
process, even from numba's disk cache, and that work holds the GIL. In a separate process
(started when the analysis starts) it overlaps the statistics and spectral phases instead of
slowing them, and the fits themselves then overlap the PCA of later layers. The kNN graph is
computed in the parent (JAX), so the helper never imports JAX. Any failure of the helper falls
back to running the same functions in-process: results are identical either way.

Protocol: pickled (job id, kind, kwargs) on the helper's stdin, (job id, result, error) on a
private copy of its stdout; the helper's own fd 1 is pointed at stderr, so a stray print in a
library cannot corrupt the stream.
"""
from __future__ import annotations

import atexit
import os
import pickle
import queue
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from . import embed2d


def _run(kind: str, kwargs: dict, disk_cache: bool) -> np.ndarray:
    if kind == "umap":
        return embed2d.umap_fit(**kwargs, disk_cache=disk_cache)
    if kind == "tsne":
        return embed2d.tsne_2d(**kwargs)
    raise ValueError(f"unknown job {kind!r}")


def _warm(disk_cache: bool) -> None:
    """A tiny fit with the real dtypes, so numba loads every specialisation the real fits use."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    idx = np.argsort(d, axis=1)[:, :15].astype(np.int32)
    dist = np.take_along_axis(d, idx, axis=1).astype(np.float32)
    embed2d.umap_fit(x, x[:, :2], idx, dist, seed=0, epochs=5, disk_cache=disk_cache)
    import sklearn.manifold  # noqa: F401  (t-SNE is Cython: importing is all its warm-up)


def serve(disk_cache: bool) -> None:
    """The helper's main loop: warm up, then answer jobs until stdin closes."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    try:
        _warm(disk_cache)
    except Exception:  # the jobs will report the real problem
        pass
    while True:
        try:
            job_id, kind, kwargs = pickle.load(inp)
        except EOFError:
            return
        try:
            reply = (job_id, _run(kind, kwargs, disk_cache), None)
        except Exception as exc:
            reply = (job_id, None, f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


class _Helper:
    """The parent's side: a writer thread (a job can exceed the pipe buffer) and a reader thread."""

    def __init__(self, disk_cache: bool) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # so a source checkout works uninstalled
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        # One core for the helper: with t-SNE's OpenMP on both, it and the parent's XLA threads
        # oversubscribe 2 cores and the phase took 2-3x longer (measured).
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from reportgen.analysis.embed_worker import serve; serve({disk_cache!r})"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.disk_cache = disk_cache
        self._futures: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._outbox: queue.Queue = queue.Queue()
        self.alive = True
        threading.Thread(target=self._write, name="reportgen-embed-writer", daemon=True).start()
        threading.Thread(target=self._read, name="reportgen-embed-reader", daemon=True).start()

    def submit(self, kind: str, kwargs: dict) -> Future:
        future: Future = Future()
        with self._lock:
            if not self.alive:
                raise RuntimeError("the UMAP/t-SNE helper process has stopped")
            job_id, self._next = self._next, self._next + 1
            self._futures[job_id] = future
        self._outbox.put((job_id, kind, kwargs))
        return future

    def _write(self) -> None:
        try:
            while (job := self._outbox.get()) is not None:
                pickle.dump(job, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self.proc.stdin.flush()
            self.proc.stdin.close()
        except (OSError, ValueError):
            self._fail()

    def _read(self) -> None:
        try:
            while True:
                job_id, result, error = pickle.load(self.proc.stdout)
                with self._lock:
                    future = self._futures.pop(job_id)
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(RuntimeError(error))
        except (EOFError, OSError, pickle.UnpicklingError):
            self._fail()

    def _fail(self) -> None:
        with self._lock:
            self.alive = False
            pending, self._futures = list(self._futures.values()), {}
        for future in pending:  # the caller recomputes these in-process
            if not future.done():
                future.set_exception(RuntimeError("the UMAP/t-SNE helper process stopped"))

    def close(self) -> None:
        self._outbox.put(None)
        try:
            self.proc.wait(timeout=0.5)  # idle: it exits on EOF at once; busy: not worth waiting
        except subprocess.TimeoutExpired:
            self.proc.kill()


_helper: _Helper | None = None
_helper_lock = threading.Lock()


def start(disk_cache: bool) -> None:
    """Start the helper (once per process; later analyses reuse it) so it warms up meanwhile."""
    global _helper
    with _helper_lock:
        if _helper is not None and _helper.alive and _helper.proc.poll() is None:
            return
        try:
            _helper = _Helper(disk_cache)
        except OSError:  # no subprocesses here: everything runs in-process
            _helper = None
            return
        atexit.register(_helper.close)


def _submit(kind: str, kwargs: dict, disk_cache: bool) -> Future:
    helper = _helper
    if helper is not None and helper.alive:
        try:
            return _Fallback(helper.submit(kind, kwargs), kind, kwargs, disk_cache)
        except RuntimeError:
            pass
    done: Future = Future()
    done.set_result(_run(kind, kwargs, disk_cache))
    return done


class _Fallback:
    """A helper future that recomputes in-process if the helper fails or dies."""

    def __init__(self, future: Future, kind: str, kwargs: dict, disk_cache: bool) -> None:
        self._future, self._job = future, (kind, kwargs, disk_cache)

    def result(self) -> np.ndarray:
        try:
            return self._future.result()
        except RuntimeError:
            return _run(*self._job)


def umap(x: np.ndarray, init: np.ndarray, neighbours: int, seed: int, epochs: int, disk_cache: bool):
    """A future of embed2d.umap_2d(...): the kNN graph here (JAX), the fit in the helper."""
    idx, dist = embed2d.knn(x, neighbours)
    return _submit("umap", dict(x=x, init=init, idx=idx, dist=dist, seed=seed, epochs=epochs), disk_cache)


def tsne(x: np.ndarray, perplexity: float, seed: int, iterations: int, disk_cache: bool):
    return _submit("tsne", dict(x=x, perplexity=perplexity, seed=seed, iterations=iterations), disk_cache)
