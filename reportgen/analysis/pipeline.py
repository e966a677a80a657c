"""The analyze stage: decides what runs on which tensor, isolates failures, collects timings."""
from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed

from .._version import __version__
from ..config import Config
from ..progress import Progress
from ..types import (Analysis, CheckpointDiff, ModelInfo, ModelSpec, ModelWeights, TensorAnalysis, TensorRecord,
                     Timings, Training, TrainingLog)
from . import compile_watch, device
from .alerts import model_alerts
from .inflight import ByteGate, gate_for, working_bytes
from .projection_phase import nonlinear_layers, projection_phase, start_helper
from .units import is_matrix_like


def _views(record: TensorRecord, array, config: Config) -> dict:
    """Unit checks, heatmap and conv filters for tensors with unit structure."""
    from .units import conv_oi, unit_matrix, unit_stats
    from .views import conv_filters, heatmap

    m = unit_matrix(array, record.role, record.layout)
    if m is None:
        return {}
    out = {}
    if "stats" in config.sections:  # the unit checks feed the alerts, like the statistics
        out["units"] = unit_stats(m, config.dead_rel, config.duplicate_cos, config.duplicate_max_units)
    if "heatmaps" in config.sections:
        out["heatmap"] = heatmap(m, config.heatmap_max_cells)
    if "filters" in config.sections and record.role == "conv":
        out["filters"] = conv_filters(conv_oi(array, record.layout), config.conv_max_out,
                                      config.conv_top_inputs)
    return out


def _analyze_tensor(record: TensorRecord, config: Config) -> TensorAnalysis:
    from .stats import tensor_stats

    base = dict(name=record.name, shape=record.shape, dtype=record.dtype, role=record.role,
                layout=record.layout, n_params=record.size)
    loaded = (record.note,) if record.note else ()
    if record.size == 0:
        return TensorAnalysis(**base, notes=loaded + ("empty tensor: nothing to analyse",))
    notes = list(loaded)
    try:
        array = record.load()
        found: dict = {}
        if "stats" in config.sections:
            found["stats"], found["histogram"] = tensor_stats(array)
        found.update(_views(record, array, config))
    except Exception as exc:  # one bad tensor must not kill the report
        if config.strict:
            raise
        return TensorAnalysis(**base, errors=(f"analysis failed: {type(exc).__name__}: {exc}",))
    if record.role == "other" and record.dtype.startswith(("int", "uint", "bool")):
        notes.append(f"{record.dtype} tensor: statistics only, no unit views.")
    s = found.get("stats")
    if s is not None and s.std == 0 and record.role in ("bias", "norm") and record.size > 1:
        notes.append(f"every value is {s.mean:g}: typical of an untrained or frozen {record.role}.")
    return TensorAnalysis(**base, **found, notes=tuple(notes))


def _spectral_one(record: TensorRecord, config: Config, gate: ByteGate) -> dict:
    from .spectral import tensor_spectral

    try:
        with gate.hold(working_bytes(record)):
            result = tensor_spectral(record.load(), record.role, record.layout,
                                     config.spectral_min_evals, config.spectral_max_evals)
    except Exception as exc:  # one bad tensor must not kill the report
        if config.strict:
            raise
        return {"errors": (f"spectral analysis failed: {type(exc).__name__}: {exc}",)}
    return {"spectral_skipped": result} if isinstance(result, str) else {"spectral": result}


def workers(config: Config) -> int:
    return config.workers or min(4, os.cpu_count() or 1)


def _spectral_phase(weights: ModelWeights, results: list[TensorAnalysis], config: Config,
                    progress: Progress) -> list[TensorAnalysis]:
    """ESDs of every matrix-like tensor, a few at a time: LAPACK runs single-threaded per call."""
    todo = [i for i, r in enumerate(weights) if is_matrix_like(r) and not results[i].errors]
    out = list(results)
    with progress.phase(f"spectral analysis of {len(todo)} matrices"), \
            ThreadPoolExecutor(workers(config)) as pool:
        gate = gate_for([weights.tensors[i] for i in todo])
        futures = {pool.submit(_spectral_one, weights.tensors[i], config, gate): i for i in todo}
        for done, future in enumerate(as_completed(futures), 1):
            i = futures[future]
            progress.step(done, len(todo), weights.tensors[i].name)
            found = future.result()
            found["errors"] = out[i].errors + found.get("errors", ())
            out[i] = dataclasses.replace(out[i], **found)
    return out


def _model_section(title: str, phase: str, spec: ModelSpec, config: Config, progress: Progress,
                   notes: list[str], *args):
    """Run a model-level phase (saliency_phase, bias_phase); a failure or a reason becomes a note."""
    import importlib

    module = importlib.import_module(f".{phase}", __package__)
    try:
        found = getattr(module, phase)(spec, config, progress, *args)
    except Exception as exc:  # a model-level section must not kill the weight report
        if config.strict:
            raise
        notes.append(f"{title} failed: {type(exc).__name__}: {exc}")
        return None
    if isinstance(found, str):
        notes.append(f"{title} not computed: {found}.")
        return None
    return found


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
            progress: Progress | None = None, training_log: TrainingLog | None = None,
            compare: ModelWeights | None = None) -> Analysis:
    """Every phase in turn; generate_report instead overlaps the neuron maps with rendering."""
    config = config or Config()
    progress = progress or Progress(enabled=False)
    base = analyze_first(weights, spec, config, progress, training_log, compare)
    return add_projections(base, weights, config, progress) if "projections" in config.sections else base


def _training_phase(weights: ModelWeights, results: list[TensorAnalysis], config: Config, progress: Progress,
                    log: TrainingLog | None, other: ModelWeights | None) -> tuple[Training | None, CheckpointDiff | None]:
    from .diff_phase import diff_phase
    from .training import summarize

    training = summarize(log, tuple(r.name for r in weights)) if log is not None and "training" in config.sections \
        else None
    diff = diff_phase(weights, other, results, config, progress) if other is not None and "diff" in config.sections \
        else None
    return training, diff


def analyze_first(weights: ModelWeights, spec: ModelSpec | None, config: Config, progress: Progress,
                  training_log: TrainingLog | None = None, compare: ModelWeights | None = None) -> Analysis:
    """Statistics, views, spectral, the model-level sections, the training log and the checkpoint
    diff: everything but the neuron maps.

    Starts the UMAP/t-SNE helper first, so that it warms up while these run.
    """
    platform = device.use(config.device)
    if config.disk_cache:
        compile_watch.use_disk_cache()
    compiles0, compile_s0 = compile_watch.snapshot()
    if "projections" in config.sections and nonlinear_layers(weights, config):
        start_helper(config)
    start = time.perf_counter()
    results = []
    with progress.phase(f"analysing {len(weights)} tensors"):
        for i, record in enumerate(weights, 1):
            progress.step(i, len(weights), record.name)
            results.append(_analyze_tensor(record, config))
    stats_s = time.perf_counter() - start
    spectral_s = 0.0
    if "spectral" in config.sections:
        start = time.perf_counter()
        results = _spectral_phase(weights, results, config, progress)
        spectral_s = time.perf_counter() - start
    counts = Counter(r.name for r in weights)
    results = [dataclasses.replace(t, notes=t.notes + (f"{counts[t.name]} tensors in the file share this name "
                                                       f"({t.name!r}); each is analysed on its own.",))
               if counts[t.name] > 1 else t for t in results]
    notes = []
    if spec is None:
        notes.append("No model was given (--model), so model-level sections are not included.")
    names = tuple(r.name for r in weights)

    def timed(section: str, title: str, phase: str, *args):
        """(result or None, seconds) of a model-level phase the config asks for."""
        if spec is None or section not in config.sections:
            return None, 0.0
        start = time.perf_counter()
        found = _model_section(title, phase, spec, config, progress, notes, *args)
        return found, time.perf_counter() - start

    saliency, saliency_s = timed("saliency", "Saliency", "saliency_phase")
    circuits, circuits_s = timed("circuits", "Circuits", "circuits_phase", names)
    audit, bias_s = timed("bias", "Bias audit", "bias_phase", names)
    start = time.perf_counter()
    training, diff = _training_phase(weights, results, config, progress, training_log, compare)
    importance = None
    if spec is not None and "importance" in config.sections:
        importance = _model_section("Per-class importance", "importance_phase", spec, config, progress, notes,
                                    weights.tensors)
    training_s = time.perf_counter() - start
    tensors = tuple(results)
    compiles1, compile_s1 = compile_watch.snapshot()
    return Analysis(
        reportgen_version=__version__,
        model=model_info(weights),
        tensors=tensors,
        alerts=model_alerts(tensors, config, audit, training),
        timings=Timings(stats_s=stats_s, spectral_s=spectral_s, saliency_s=saliency_s, circuits_s=circuits_s,
                        bias_s=bias_s,
                        training_s=training_s,
                        compile_count=compiles1 - compiles0, compile_s=compile_s1 - compile_s0,
                        device=platform),
        sections=config.sections,
        notes=tuple(notes),
        saliency=saliency,
        circuits=circuits,
        bias=audit,
        training=training,
        diff=diff,
        importance=importance,
    )


def add_projections(base: Analysis, weights: ModelWeights, config: Config, progress: Progress) -> Analysis:
    """The neuron maps, added to an analysis from analyze_first (safe to run in a thread)."""
    compiles0, compile_s0 = compile_watch.snapshot()
    start = time.perf_counter()
    results, joints = projection_phase(weights, list(base.tensors), config, progress,
                                       nonlinear_layers(weights, config))
    projection_s = time.perf_counter() - start
    compiles1, compile_s1 = compile_watch.snapshot()
    t = base.timings
    tensors = tuple(results)
    return dataclasses.replace(
        base, tensors=tensors, alerts=model_alerts(tensors, config, base.bias), joint_maps=joints,
        timings=dataclasses.replace(t, projection_s=projection_s, compile_count=t.compile_count + compiles1 - compiles0,
                                    compile_s=t.compile_s + compile_s1 - compile_s0))
