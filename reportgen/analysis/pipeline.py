"""The analyze stage: decides what runs on which tensor, isolates failures, collects timings."""
from __future__ import annotations

import time
from collections import Counter

from .._version import __version__
from ..config import Config
from ..progress import Progress
from ..types import Analysis, ModelInfo, ModelSpec, ModelWeights, TensorAnalysis, TensorRecord, Timings
from . import compile_watch
from .alerts import model_alerts


def _analyze_tensor(record: TensorRecord, config: Config) -> TensorAnalysis:
    from .stats import tensor_stats

    base = dict(name=record.name, shape=record.shape, dtype=record.dtype, role=record.role,
                layout=record.layout, n_params=record.size)
    if record.size == 0:
        return TensorAnalysis(**base, notes=("empty tensor: nothing to analyse",))
    try:
        array = record.load()
        stats = tensor_stats(array) if "stats" in config.sections else None
    except Exception as exc:  # one bad tensor must not kill the report
        if config.strict:
            raise
        return TensorAnalysis(**base, errors=(f"analysis failed: {type(exc).__name__}: {exc}",))
    return TensorAnalysis(**base, stats=stats)


def model_info(weights: ModelWeights) -> ModelInfo:
    by_dtype: Counter[str] = Counter()
    for t in weights:
        by_dtype[t.dtype] += t.size
    return ModelInfo(
        source=weights.source, sha256=weights.sha256, format=weights.format, layout=weights.layout,
        n_tensors=len(weights), n_params=weights.n_params, size_bytes=weights.size_bytes,
        dtypes=tuple(by_dtype.most_common()),
    )


def analyze(weights: ModelWeights, spec: ModelSpec | None = None, config: Config | None = None,
            progress: Progress | None = None, load_s: float = 0.0) -> Analysis:
    config = config or Config()
    progress = progress or Progress(enabled=False)
    compiles0, compile_s0 = compile_watch.snapshot()
    start = time.perf_counter()
    results = []
    with progress.phase(f"analysing {len(weights)} tensors"):
        for i, record in enumerate(weights, 1):
            progress.step(i, len(weights), record.name)
            results.append(_analyze_tensor(record, config))
    stats_s = time.perf_counter() - start
    notes = []
    if spec is None:
        notes.append("No model was given (--model), so model-level sections are not included.")
    tensors = tuple(results)
    compiles1, compile_s1 = compile_watch.snapshot()
    return Analysis(
        reportgen_version=__version__,
        model=model_info(weights),
        tensors=tensors,
        alerts=model_alerts(tensors),
        timings=Timings(load_s=load_s, stats_s=stats_s, compile_count=compiles1 - compiles0,
                        compile_s=compile_s1 - compile_s0),
        sections=config.sections,
        notes=tuple(notes),
    )
