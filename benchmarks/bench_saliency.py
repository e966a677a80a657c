"""Saliency: 64 digit images and a 256-example tabular batch, each through the four methods.

Per method: the first call (XLA compilation included) and the median of 5 warm calls, on the
bundled digits CNN and credit MLP with the default settings (SmoothGrad 32 samples, IG from 64
steps, doubled until completeness is within 1%).

Run: python benchmarks/bench_saliency.py   -> benchmarks/results/saliency.json
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("gradient", "gradient_x_input", "smoothgrad", "integrated_gradients")


def _time(spec, config, repeats: int) -> dict:
    from reportgen.analysis.saliency_phase import saliency_phase
    from reportgen.progress import Progress

    quiet = Progress(enabled=False)
    t0 = time.perf_counter()
    found = saliency_phase(spec, config, quiet)
    first = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        saliency_phase(spec, config, quiet)
        warm.append(time.perf_counter() - t0)
    out = {"first_s": round(first, 3), "warm_median_s": round(statistics.median(warm), 4),
           "warm_s": [round(w, 4) for w in warm]}
    if found.completeness is not None:
        out["ig_steps"] = found.completeness.steps
        out["ig_max_rel_error"] = round(float(found.completeness.rel_errors.max()), 5)
    return out


def case(target: str, n: int, repeats: int = 5) -> dict:
    from reportgen.config import Config
    from reportgen.samples import model_spec

    spec = model_spec(target)
    spec = dataclasses.replace(spec, inputs=spec.inputs[:n], labels=spec.labels[:n],
                               groups=None if spec.groups is None else spec.groups[:n])
    per_method = {m: _time(spec, Config(saliency_methods=(m,), saliency_max_examples=n), repeats) for m in METHODS}
    # After the per-method runs, so its kernels are compiled: the phase as a second report sees it.
    all_four = _time(spec, Config(saliency_max_examples=n), repeats)
    return {"model": target, "examples": n, "input_shape": list(spec.inputs.shape[1:]),
            "per_method": per_method, "all_four_compiled": all_four}


def main() -> dict:
    result = {
        "benchmark": "saliency phase: four methods, first call and warm median of 5",
        "images": case("digits", 64),
        "tabular": case("credit", 256),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpu_count": os.cpu_count(), "backend": __import__("jax").default_backend()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "saliency.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
