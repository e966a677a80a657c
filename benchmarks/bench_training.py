"""TrainingRecorder overhead on the digits CNN training loop, and the size of a 200-step log.

Three loops over the same 200 steps (batch 64, Adam), each timed end to end with the final
weights fetched (so queued device work is counted): no recording; `record()` every step (its own
jitted call, results fetched in blocks); summaries fused into the jitted step (`summarize`).
Nine interleaved repeats after one warm-up of each; medians (a step is ~5 ms here, so
the machine's jitter is a large part of any single run).

Run: python benchmarks/bench_training.py   -> benchmarks/results/training.json
"""
from __future__ import annotations

import io
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_models" / "digits_cnn"))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from model import load_data, make_model  # noqa: E402

from record import save  # noqa: E402

from reportgen import TrainingRecorder  # noqa: E402

STEPS, BATCH = 200, 64


def _setup():
    x, y, _, _ = load_data()
    model = make_model()
    params = model.init(jax.random.PRNGKey(0), x[:1])["params"]
    opt = optax.adam(2e-3)

    def loss_fn(p, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, xb), yb).mean()

    def core(p, s, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(p, xb, yb)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss, grads, updates

    batches = [np.random.default_rng(i).choice(len(x), BATCH, replace=False) for i in range(STEPS)]
    return x, y, params, opt, core, batches


def main(repeats: int = 9) -> dict:
    x, y, params0, opt, core, batches = _setup()
    plain = jax.jit(lambda p, s, xb, yb: core(p, s, xb, yb)[:3])
    with_grads = jax.jit(core)
    probe = TrainingRecorder()
    _, _, _, g0, _ = with_grads(params0, opt.init(params0), x[batches[0]], y[batches[0]])
    probe.start(params0, g0)

    @jax.jit
    def fused(p, s, xb, yb):
        new_p, s, loss, grads, updates = core(p, s, xb, yb)
        return new_p, s, loss, probe.summarize(p, grads, updates)

    def run(mode: str) -> tuple[float, int]:
        p, s = params0, opt.init(params0)
        rec = TrainingRecorder() if mode != "fused" else probe
        if mode == "fused":
            rec._pending, rec._host = [], []
        t0 = time.perf_counter()
        for step, idx in enumerate(batches):
            xb, yb = x[idx], y[idx]
            if mode == "none":
                p, s, loss = plain(p, s, xb, yb)
            elif mode == "record":
                before = p
                p, s, loss, grads, updates = with_grads(p, s, xb, yb)
                rec.record(step, before, grads, updates=updates, loss=loss)
            else:
                p, s, loss, summary = fused(p, s, xb, yb)
                rec.append(step, summary, loss=loss)
        jax.block_until_ready(p)
        size = 0
        if mode != "none":
            buf = io.BytesIO()
            rec.save(buf)  # fetches what is still on the device
            size = buf.tell()
        return time.perf_counter() - t0, size

    modes = ("none", "record", "fused")
    for m in modes:
        run(m)  # compile
    times: dict[str, list[float]] = {m: [] for m in modes}
    sizes = {}
    for _ in range(repeats):
        for m in modes:
            t, sizes[m] = run(m)
            times[m].append(t)
    med = {m: statistics.median(v) for m, v in times.items()}
    result = {
        "benchmark": "TrainingRecorder overhead, digits CNN (38,282 params, 8 tensors), 200 steps of batch 64",
        "repeats": repeats, "median_s": {m: round(v, 4) for m, v in med.items()},
        "per_step_ms": {m: round(1e3 * v / STEPS, 3) for m, v in med.items()},
        "overhead_record_every_step": round(med["record"] / med["none"] - 1, 3),
        "overhead_fused": round(med["fused"] / med["none"] - 1, 3),
        "log_bytes_200_steps": sizes["record"], "runs_s": {m: [round(t, 4) for t in v] for m, v in times.items()},
    }
    return save("training", result)


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
