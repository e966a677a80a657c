"""Statistics-phase time per million parameters on a ~22M-parameter (BERT-mini-shaped) model.

Each variant runs in one process; its first run includes the XLA compilations (recorded).

Run: python benchmarks/bench_stats.py   -> benchmarks/results/stats.json
The first run includes XLA compilation; later runs in the same process reuse it.
"""
from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reportgen  # noqa: E402
from reportgen.analysis import compile_watch  # noqa: E402
from reportgen.analysis.stats import tensor_stats  # noqa: E402
from reportgen.config import SECTIONS, Config  # noqa: E402

from models import bert_mini_shapes, random_weights, write_safetensors  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main(repeats: int = 5) -> dict:
    path = write_safetensors("bert_mini", random_weights(bert_mini_shapes()))
    runs = {}
    # tensor_stats alone is the statistics phase proper; the "stats" section adds the unit
    # checks (dead/duplicate units); "all" adds heatmap pooling and conv filters.
    for label, sections in (("tensor_stats", None), ("stats_section", ("overview", "stats")),
                            ("all_sections", SECTIONS)):
        times, compiles = [], []
        for _ in range(repeats):
            weights = reportgen.load(path)
            c0 = compile_watch.snapshot()
            t0 = time.perf_counter()
            if sections is None:
                for t in weights:
                    tensor_stats(t.load())
            else:
                reportgen.analyze(weights, config=Config(sections=sections))
            times.append(time.perf_counter() - t0)
            c1 = compile_watch.snapshot()
            compiles.append((c1[0] - c0[0], c1[1] - c0[1]))
        n = weights.n_params
        warm = statistics.median(times[1:])
        runs[label] = {"first_run_s": round(times[0], 3), "warm_median_s": round(warm, 3),
                       "warm_s_per_million_params": round(warm / (n / 1e6), 4),
                       "first_run_compiles": compiles[0][0], "first_run_compile_s": round(compiles[0][1], 3),
                       "warm_compiles": max(c for c, _ in compiles[1:]), "runs_s": [round(t, 3) for t in times]}
    result = {"benchmark": "stats phase", "model": "bert_mini (random, PyTorch names)",
              "n_params": n, "n_tensors": len(weights), "repeats": repeats,
              "machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpu_count": __import__("os").cpu_count()},
              "reportgen_version": reportgen.__version__, **runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stats.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
