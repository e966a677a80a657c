"""Spectral phase side by side with WeightWatcher 0.7.7's analyze(), BERT-mini- and GPT-2-small-shaped.

Both run in this one process on the same weights, interleaved (ours, theirs, ours, ...) so that
machine noise hits both alike, with OPENBLAS_NUM_THREADS=1 (set before numpy loads): SVD
timings with 2 OpenBLAS threads on 2 cores swing up to 10x. reportgen's first run includes its
XLA compilations; we report it, the warm median and the compile share separately.

On GPT-2-small (124M parameters) only plain analyze() is timed, 3 runs each: with mp_fit=True
WeightWatcher would take about a quarter of an hour per run there.

Needs the test extras (torch CPU + weightwatcher). Run:
    python benchmarks/bench_spectral.py   -> benchmarks/results/spectral.json (BERT-mini)
                                             benchmarks/results/spectral_gpt2.json (GPT-2-small)
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reportgen  # noqa: E402
from reportgen.analysis.pipeline import workers  # noqa: E402
from reportgen.config import Config  # noqa: E402

from models import bert_mini_shapes, gpt2_small_shapes, random_weights, write_safetensors  # noqa: E402

MODELS = {"bert_mini": (bert_mini_shapes, "spectral.json"), "gpt2_small": (gpt2_small_shapes, "spectral_gpt2.json")}

RESULTS = Path(__file__).resolve().parent / "results"


def _ours(path: Path) -> tuple[float, int, float, dict]:
    a = reportgen.analyze(reportgen.load(path), config=Config(sections=("spectral",), progress=False))
    t = a.timings
    return t.spectral_s, t.compile_count, t.compile_s, {x.name.removesuffix(".weight"): x.spectral
                                                        for x in a.tensors if x.spectral is not None}


def _theirs(state: dict, mp_fit: bool):
    import weightwatcher

    t0 = time.perf_counter()
    details = weightwatcher.WeightWatcher(model=state).analyze(mp_fit=mp_fit)
    return time.perf_counter() - t0, details


def main(model: str = "bert_mini", repeats: int = 5, mp_fit: bool = True) -> dict:
    from safetensors.numpy import load_file

    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    shapes, result_file = MODELS[model]
    path = write_safetensors(model, random_weights(shapes()))
    state = load_file(str(path))
    ours, ww_plain, ww_mp = [], [], []
    for _ in range(repeats):
        ours.append(_ours(path))
        ww_plain.append(_theirs(state, mp_fit=False))
        if mp_fit:
            ww_mp.append(_theirs(state, mp_fit=True))
    first_s, first_compiles, first_compile_s, metrics = ours[0]
    warm = statistics.median(r[0] for r in ours[1:])
    ww_s = statistics.median(r[0] for r in ww_plain)
    ww_mp_s = statistics.median(r[0] for r in ww_mp) if ww_mp else None
    details = (ww_mp or ww_plain)[-1][1]
    agreement = {
        "layers_compared": len(details),
        "max_abs_alpha_diff": float(max(abs(metrics[r.longname].alpha - r.alpha) for r in details.itertuples())),
        **{f"max_rel_{f}_diff": float(max(abs(getattr(metrics[r.longname], f) / getattr(r, f) - 1)
                                          for r in details.itertuples()))
           for f in ("log_norm", "log_spectral_norm", "stable_rank", "bulk_max") if f in details},
    }
    result = {
        "benchmark": "spectral phase vs WeightWatcher 0.7.7 analyze()",
        "model": f"{model} (random weights, PyTorch names)", "n_params": int(sum(v.size for v in state.values())),
        "matrices": len(metrics), "repeats": repeats, "openblas_threads": os.environ["OPENBLAS_NUM_THREADS"],
        "reportgen_workers": workers(Config()),
        "reportgen": {"first_run_s": round(first_s, 3), "first_run_compiles": first_compiles,
                      "first_run_compile_s": round(first_compile_s, 3),
                      "compile_share_of_first_run": round(first_compile_s / first_s, 3),
                      "warm_median_s": round(warm, 3), "warm_compiles": max(r[1] for r in ours[1:]),
                      "runs_s": [round(r[0], 3) for r in ours]},
        "weightwatcher": {"analyze_median_s": round(ww_s, 3), "runs_s": [round(r[0], 3) for r in ww_plain],
                          "analyze_mp_fit_median_s": round(ww_mp_s, 3) if ww_mp else None,
                          "mp_fit_runs_s": [round(r[0], 3) for r in ww_mp]},
        "speedup_warm_vs_analyze": round(ww_s / warm, 1),
        "speedup_warm_vs_analyze_mp_fit": round(ww_mp_s / warm, 1) if ww_mp else None,
        "speedup_first_run_vs_analyze": round(ww_s / first_s, 2),
        "agreement": agreement,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpu_count": os.cpu_count(), "numpy": np.__version__},
        "reportgen_version": reportgen.__version__,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / result_file).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main("bert_mini"), indent=1))
    print(json.dumps(main("gpt2_small", repeats=3, mp_fit=False), indent=1))
