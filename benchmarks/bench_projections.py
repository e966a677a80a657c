"""Neuron maps: end-to-end `reportgen report` with projections on vs off, and what each trick buys.

Every measurement is a fresh process (the cold process a user starts), on the BERT-mini-shaped
model. The JAX and numba disk caches are warmed by one unrecorded run first, as they are for a
user's second report; the first-ever costs are measured separately in the trick section.
Variants turn one trick off: UMAP/t-SNE in-process instead of the helper process, and the
projection phase before rendering instead of alongside it.

Run: python benchmarks/bench_projections.py   -> benchmarks/results/projections.json
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from models import WORK, bert_mini_shapes, random_weights, write_safetensors  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
OFF = "overview,stats,heatmaps,filters,spectral"
ON = OFF + ",projections"
# Variants with one trick turned off, to measure what it buys.
NO_HELPER = "import reportgen.analysis.embed_worker as w; w.start = lambda disk_cache: None\n"
NO_OVERLAP = ("import reportgen.api as a\n"
              "class _Now:\n"
              "    def __init__(self, fn, *args): self.value = fn(*args)\n"
              "    def result(self): return self.value\n"
              "a._InThread = _Now\n")


def _python(code: str, env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _report(path: Path, sections: str, env: dict, patch: str = "") -> dict:
    out = Path(tempfile.mkdtemp()) / "r.json"
    code = (patch + "from reportgen.cli import main\n"
            f"main(['report', {str(path)!r}, '-o', {str(out.with_suffix('.html'))!r}, '--json', {str(out)!r},"
            f" '-q', '--timings', '--sections', {sections!r}])\n")
    wall = _python(code, env)
    timings = json.loads(out.read_text())["timings"]
    return {"wall_s": round(wall, 2), **{k: round(v, 2) for k, v in timings.items() if k.endswith("_s")}}


_UMAP_FIRST_FIT = """
import time, numpy as np
t0 = time.perf_counter()
x = np.random.default_rng(0).normal(size=(500, 50)).astype(np.float32)
{body}
print(time.perf_counter() - t0)
"""
_PLAIN = ("import umap, warnings\nwarnings.simplefilter('ignore')\n"
          "umap.UMAP(n_neighbors=15, random_state=0, n_epochs=200).fit_transform(x)")
_OURS = ("from reportgen.analysis.embed2d import umap_2d\n"
         "umap_2d(x, x[:, :2], 15, 0, 200, disk_cache={cache})")


def _first_fit(body: str, env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", _UMAP_FIRST_FIT.format(body=body)], check=True, env=env,
                         capture_output=True, text=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 2)


def _map_render_s() -> dict:
    """Packing one 3-view neuron map: built by Bokeh (first of its shape) vs from the JSON template."""
    import numpy as np

    from reportgen.report.figures import packed_item
    from reportgen.report.structure import NeuronMapChart

    rng = np.random.default_rng(0)
    views = tuple((v, rng.normal(size=(384, 2)).astype(np.float32)) for v in ("pca", "umap", "tsne"))
    spec = lambda i: NeuronMapChart(id=f"t{i}-map", title="map", units=np.arange(384), views=views,  # noqa: E731
                                    norms=rng.random(384), top_inputs=("in 1 (+0.1)",) * 384, scree=(0.05,) * 20)
    t0 = time.perf_counter()
    packed_item(spec(0))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(1, 11):
        packed_item(spec(i))
    return {"map_pack_bokeh_s": round(first, 3), "map_pack_template_s": round((time.perf_counter() - t0) / 10, 4)}


def main(repeats: int = 3) -> dict:
    path = write_safetensors("bert_mini", random_weights(bert_mini_shapes()))
    env = {**os.environ, "REPORTGEN_CACHE_DIR": str(WORK / "cache")}
    _report(path, ON, env)  # warm the disk caches, as a user's earlier run would have
    off, on, no_helper, no_overlap = [], [], [], []
    for _ in range(repeats):  # interleaved, so machine noise hits all alike
        off.append(_report(path, OFF, env))
        on.append(_report(path, ON, env))
        no_helper.append(_report(path, ON, env, NO_HELPER))
        no_overlap.append(_report(path, ON, env, NO_OVERLAP))
    med = lambda runs, key="wall_s": round(statistics.median(r[key] for r in runs), 2)  # noqa: E731
    share = (med(on) - med(off)) / med(on)
    tricks = {
        # umap-learn's first fit_transform in a new process, 500 points x 50 dims
        "umap_first_fit_plain_s": _first_fit(_PLAIN, env),
        "umap_first_fit_precomputed_knn_no_disk_cache_s": _first_fit(_OURS.format(cache=False), env),
        "umap_first_fit_precomputed_knn_disk_cache_s": _first_fit(_OURS.format(cache=True), env),
        "projection_phase_median_s": med(on, "projection_s"),
        "projection_phase_median_umap_in_process_s": med(no_helper, "projection_s"),
        "wall_median_umap_in_process_s": med(no_helper),
        "wall_median_no_overlap_with_rendering_s": med(no_overlap),
        "projections_share_no_overlap": round((med(no_overlap) - med(off)) / med(no_overlap), 3),
        **_map_render_s(),
    }
    result = {
        "benchmark": "neuron maps (projections) end to end, cold processes",
        "model": "bert_mini (random weights, PyTorch names), 39 matrices",
        "repeats": repeats, "sections_off": OFF, "sections_on": ON,
        "wall_off_median_s": med(off), "wall_on_median_s": med(on),
        "projections_share_of_wall": round(share, 3),
        "projection_phase_median_s": med(on, "projection_s"),
        "render_off_median_s": med(off, "render_s"), "render_on_median_s": med(on, "render_s"),
        "runs_off": off, "runs_on": on, "runs_on_umap_in_process": no_helper,
        "runs_on_no_overlap": no_overlap,
        "tricks": tricks,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpu_count": os.cpu_count()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "projections.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
