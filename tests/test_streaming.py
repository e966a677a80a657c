"""Streaming: tensors are loaded per use and released; big ones are never held two at a time."""
from __future__ import annotations

import gc
import threading
import time
import weakref

import numpy as np

from reportgen.analysis.inflight import ByteGate
from reportgen.analysis.pipeline import analyze
from reportgen.config import Config
from reportgen.types import ModelWeights, TensorRecord


def test_byte_gate_never_lets_two_big_jobs_overlap():
    gate, lock = ByteGate(10), threading.Lock()
    live, peak = [0], [0]

    def job(n: int) -> None:
        with gate.hold(n):
            with lock:
                live[0] += n
                peak[0] = max(peak[0], live[0])
            time.sleep(0.02)
            with lock:
                live[0] -= n

    threads = [threading.Thread(target=job, args=(n,)) for n in (8, 8, 4, 4, 25, 8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 25 and gate.used == 0  # 25 ran alone; 8 + 8 never together
    small, lock2, both = ByteGate(10), threading.Lock(), []

    def pair() -> None:
        with small.hold(4):
            with lock2:
                both.append(small.used)
            time.sleep(0.05)

    threads = [threading.Thread(target=pair) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(both) == 8  # jobs that fit together run together


class _Tracked:
    """A reader whose arrays are watched: how many are alive at once, and whether any survive."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref] = []
        self.lock = threading.Lock()
        self.peak_live_bytes = 0

    def reader(self, array: np.ndarray):
        def load() -> np.ndarray:
            out = array.copy()  # a fresh array per load, as a memory map gives
            # Count what is reachable, not garbage a collection has yet to free: under load an
            # array released in a reference cycle (a traceback, a frame) can wait for the cycle GC.
            gc.collect()
            with self.lock:
                self.refs.append(weakref.ref(out))
                live = sum(r().nbytes for r in self.refs if r() is not None)
                self.peak_live_bytes = max(self.peak_live_bytes, live)
            return out
        return load


def test_analysis_keeps_no_weights_and_holds_one_big_tensor_at_a_time(monkeypatch):
    import reportgen.analysis.inflight as inflight

    monkeypatch.setattr(inflight, "FLOOR", 0)  # tensors of 256 MiB in all may pair up: test at 12 MB
    rng = np.random.default_rng(0)
    tracked = _Tracked()
    arrays = {"embed.weight": rng.normal(size=(6000, 512)).astype(np.float32),  # 12 MB each
              "lm_head.weight": rng.normal(size=(6000, 512)).astype(np.float32),
              **{f"layer{i}.weight": rng.normal(size=(128, 512)).astype(np.float32) for i in range(6)}}
    records = tuple(TensorRecord(name=k, shape=v.shape, dtype="float32", role="embedding" if "embed" in k else "dense",
                                 layout="pytorch", reader=tracked.reader(v)) for k, v in arrays.items())
    weights = ModelWeights(source="m", format="test", layout="pytorch", sha256="0", size_bytes=0, tensors=records)
    config = Config(progress=False, sections=("overview", "stats", "heatmaps", "spectral", "projections"),
                    projection_nonlinear_budget=0, workers=2)
    a = analyze(weights, config=config)
    assert a.tensors[0].neuron_map is not None and a.joint_maps  # the phases did run
    gc.collect()
    assert all(r() is None for r in tracked.refs), "a loaded tensor outlived the analysis"
    big = arrays["embed.weight"].nbytes
    # Each phase holds one big tensor at a time (ByteGate), plus small ones beside it.
    assert big <= tracked.peak_live_bytes < 1.5 * big, tracked.peak_live_bytes / big
