"""Every benchmark in one command: generates the models, then measures end-to-end reports and phases.

End to end, each model is reported by `reportgen report` (or `demo`) in a fresh process with
`--timings`: per-phase wall time and compilations come from its sidecar, peak RSS of the
reportgen process from the kernel (wait4's ru_maxrss), the peak of the whole process tree
(reportgen + its UMAP/t-SNE helper) and each phase's peak from /proc sampled every 50 ms, and
the report's size from disk. Models (generated, never downloaded): the two sample models, a
BERT-mini-shaped (22M), a GPT-2-small-shaped (124M) and a 1B-parameter Llama-shaped model
written as a sharded safetensors set (4.2 GB float32, 1 GB shards).

Then the per-topic benchmarks, each in its own process: spectral vs WeightWatcher (BERT-mini
and GPT-2-small), statistics, neuron maps, saliency, the training recorder's overhead, browser.

Run:  python benchmarks/run.py                 everything (about 45 min on 2 cores)
      python benchmarks/run.py --only e2e       end to end only; also: spectral, stats,
                                                projections, saliency, training, browser
      python benchmarks/run.py --skip-1b        without the 4.2 GB model
-> benchmarks/results/run.json (end to end) and each benchmark's own results/*.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from record import machine  # noqa: E402
from models import (WORK, bert_mini_shapes, gpt2_small_shapes, llama_1b_shapes, random_weights,  # noqa: E402
                    write_safetensors, write_sharded)

RESULTS = HERE / "results"
PAGE = os.sysconf("SC_PAGE_SIZE")
TOPICS = {"spectral": ["bench_spectral.py"], "stats": ["bench_stats.py"], "projections": ["bench_projections.py"],
          "saliency": ["bench_saliency.py"], "circuits": ["bench_circuits.py"], "training": ["bench_training.py"],
          "browser": ["bench_browser.py"]}


def _tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc/<pid>/task/*/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo.extend(int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split())
        except OSError:
            pass
    return out


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError):
        return 0


class _Sampler(threading.Thread):
    """Samples the process tree's summed RSS and labels each sample with the current phase."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.phase, self.samples, self.done = pid, "start", [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append((self.phase, sum(_rss(p) for p in _tree(self.pid))))
            time.sleep(0.05)


def report(name: str, argv: list[str]) -> dict:
    """One `reportgen` run in a fresh process, measured."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-{name}-")) / "report.html"
    side = out.with_suffix(".json")
    cmd = [sys.executable, "-c", "from reportgen.cli import entrypoint; entrypoint()", *argv,
           "-o", str(out), "--json", str(side), "--timings"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    sampler = _Sampler(proc.pid)
    sampler.start()
    log = []
    for line in proc.stderr:  # progress lines name the phase that is starting
        log.append(line.rstrip())
        if line.rstrip().endswith("...") or ": done in " in line:
            print(f"  {time.perf_counter() - t0:6.1f} s  {line.rstrip()}", flush=True)
        if line.rstrip().endswith("..."):
            sampler.phase = line.removeprefix("reportgen: ").rstrip().removesuffix("...")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    sampler.done.set()
    sampler.join()
    if status != 0:
        raise RuntimeError(f"{name}: reportgen exited {status}:\n" + "\n".join(log[-10:]))
    data = json.loads(side.read_text())
    by_phase: dict[str, float] = {}
    for phase, rss in sampler.samples:
        by_phase[phase] = max(by_phase.get(phase, 0), rss / 1e6)
    result = {
        "model": name, "n_params": data["model"]["n_params"], "n_tensors": data["model"]["n_tensors"],
        "file_gb": round(data["model"]["size_bytes"] / 1e9, 2),
        "wall_s": round(wall, 1), "timings": data["timings"],
        "peak_rss_mb": round(usage.ru_maxrss / 1e3),  # the reportgen process itself (kB -> MB)
        "peak_rss_tree_mb": round(max((r for _, r in sampler.samples), default=0) / 1e6),
        "peak_rss_by_phase_mb": {k: round(v) for k, v in by_phase.items()},
        "report_mb": round(out.stat().st_size / 1e6, 2), "sidecar_mb": round(side.stat().st_size / 1e6, 2),
        "largest_tensor_mb": round(max(4 * math.prod(t["shape"]) for t in data["tensors"]) / 1e6),
        "alerts": len(data["alerts"]), "argv": argv,
    }
    result["rss_target_mb"] = 2 * result["largest_tensor_mb"] + 1500
    out.unlink()
    side.unlink()
    return result


def end_to_end(skip_1b: bool) -> dict:
    print("generating the benchmark models (first time only) ...", flush=True)
    cases = {
        "digits_cnn (demo, with saliency)": ["demo", "digits"],
        "credit_mlp (demo, saliency + bias)": ["demo", "credit"],
        "bert_mini": ["report", str(write_safetensors("bert_mini", random_weights(bert_mini_shapes())))],
        "gpt2_small": ["report", str(write_safetensors("gpt2_small", random_weights(gpt2_small_shapes())))],
    }
    if not skip_1b:
        cases["llama_1b (sharded, 5 shards)"] = ["report", str(write_sharded("llama_1b", llama_1b_shapes()))]
    # One unrecorded run fills the disk caches (XLA kernels, numba, map templates), as a user's
    # second report finds them; the first-ever costs are in the per-topic benchmarks.
    report("warm-up", cases["digits_cnn (demo, with saliency)"])
    found = {}
    for name, argv in cases.items():
        print(f"end to end: {name} ...", flush=True)
        found[name] = report(name, argv)
        r = found[name]
        print(f"  {r['wall_s']} s, peak RSS {r['peak_rss_mb']} MB (tree {r['peak_rss_tree_mb']} MB), "
              f"report {r['report_mb']} MB", flush=True)
    return found


def table(e2e: dict) -> str:
    rows = ["| model | params | wall | stats | spectral | neuron maps | render | compiles | peak RSS (tree) "
            "| RSS target | report |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in e2e.items():
        t = r["timings"]
        rows.append(f"| {name} | {_compact(r['n_params'])} | {r['wall_s']:.1f} s | {t['stats_s']:.1f} s "
                    f"| {t['spectral_s']:.1f} s | {t['projection_s']:.1f} s | {t['render_s']:.1f} s "
                    f"| {t['compile_count']} ({t['compile_s']:.1f} s) | {r['peak_rss_mb']:,} MB "
                    f"({r['peak_rss_tree_mb']:,} MB) | {r['rss_target_mb']:,} MB | {r['report_mb']} MB |")
    return "\n".join(rows)


def _compact(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated: e2e," + ",".join(TOPICS))
    parser.add_argument("--skip-1b", action="store_true", help="leave out the 4.2 GB model")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else {"e2e", *TOPICS}
    WORK.mkdir(parents=True, exist_ok=True)
    if "e2e" in only:
        e2e = end_to_end(args.skip_1b)
        import reportgen

        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "run.json").write_text(json.dumps(
            {"benchmark": "end-to-end reports, fresh processes, disk caches warm",
             "reportgen_version": reportgen.__version__, "machine": machine(), "date": time.strftime("%Y-%m-%d"),
             "models": e2e}, indent=1) + "\n")
        print(table(e2e))
    for topic, script in TOPICS.items():
        if topic in only:
            print(f"{topic}: python benchmarks/{script[0]} ...", flush=True)
            subprocess.run([sys.executable, str(HERE / script[0]), *script[1:]], check=True)


if __name__ == "__main__":
    main()
