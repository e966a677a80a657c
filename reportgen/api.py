"""The Python API: load, analyze and generate_report, each a thin join of the four stages."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from .config import Config
from .errors import InputError
from .progress import Progress
from .types import Analysis, Layout, ModelSpec, ModelWeights, TrainingLog


def load(source: Any, layout: Layout | None = None) -> ModelWeights:
    """A weights file, a directory (Orbax, sharded safetensors) or a live pytree."""
    from .io import load as _load

    return _load(source, layout)


def _checked(spec: ModelSpec | None) -> ModelSpec | None:
    if spec is None:
        return None
    from .modelspec import check_spec

    return check_spec(spec)


def _log(training_log: Any) -> TrainingLog | None:
    """A TrainingLog, a path to a recorder's .npz, or a TrainingRecorder."""
    if training_log is None or isinstance(training_log, TrainingLog):
        return training_log
    from .recorder import TrainingRecorder

    if isinstance(training_log, TrainingRecorder):
        import io

        buffer = io.BytesIO()
        training_log.save(buffer)
        buffer.seek(0)
        training_log = buffer
    from .io.training_log import load_training_log

    return load_training_log(training_log)


def _weights(source: Any, layout: Layout | None) -> ModelWeights | None:
    return source if source is None or isinstance(source, ModelWeights) else load(source, layout)


def analyze(weights: ModelWeights, spec: ModelSpec | None = None, config: Config | None = None,
            progress: Progress | None = None, training_log: Any = None, compare: Any = None) -> Analysis:
    """`training_log`: a recorder log (path or TrainingRecorder); `compare`: another checkpoint
    (anything `load` takes) to diff these weights against."""
    from .analysis.pipeline import analyze as _analyze

    other = _weights(compare, config.layout if config else None)
    return _analyze(weights, _checked(spec), config, progress, _log(training_log), other)


class _InThread:
    """fn(*args) in a daemon thread (so Ctrl-C never waits for it); result() re-raises its error."""

    def __init__(self, fn, *args) -> None:
        import threading

        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name="reportgen-maps", daemon=True)
        self._thread.start()

    def _run(self, fn, args) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # handed to the caller
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _pack_ahead(analysis: Analysis) -> dict[str, str]:
    from .report.build import build_report
    from .report.render import pack_figures
    from .report.structure import JointMapChart, NeuronMapChart

    return pack_figures(build_report(analysis), skip=(NeuronMapChart, JointMapChart))


def check_writable(path: str | os.PathLike) -> None:
    """Fail before any analysis starts when the output cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name for the report")
    if not parent.is_dir():
        raise InputError(f"{path}: output directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{path}: output directory {parent} is not writable")


def generate_report(source: Any, out: str | os.PathLike | None = "report.html",
                    spec: ModelSpec | None = None, config: Config | None = None,
                    json_out: str | os.PathLike | None = None,
                    progress: Progress | None = None, card_out: str | os.PathLike | None = None,
                    training_log: Any = None, compare: Any = None) -> Analysis:
    """Load, analyze, build and render; write the HTML (and JSON) atomically. Returns the Analysis."""
    import dataclasses

    config = config or Config()
    progress = progress or Progress(enabled=False)
    for target in (out, json_out, card_out):
        if target is not None:
            check_writable(target)
    from .analysis import device

    device.use(config.device)  # a missing GPU is bad input: say so before reading gigabytes
    start = time.perf_counter()
    with progress.phase("reading weights"):
        weights = _weights(source, config.layout)
        log = _log(training_log)
        other = _weights(compare, config.layout)
    load_s = time.perf_counter() - start
    from .analysis.pipeline import add_projections, analyze_first
    from .report.render import dumps_json, render_within, write_atomic
    from .report.sidecar import analysis_to_dict

    analysis = analyze_first(weights, _checked(spec), config, progress, log, other)
    maps = "projections" in config.sections
    html, render_s = None, 0.0
    if out is None:
        analysis = add_projections(analysis, weights, config, progress) if maps else analysis
    else:
        t0 = time.perf_counter()
        packed = {}
        if maps:
            # The neuron maps (JAX, numpy and the UMAP helper process; little Python) are computed
            # in a thread while this one packs every other figure (Bokeh: pure Python), which
            # depend on nothing the maps add. On 2 cores that hides most of the projection phase.
            job = _InThread(add_projections, analysis, weights, config, progress)
            with progress.phase("rendering the figures (neuron maps computed meanwhile)"):
                packed = _pack_ahead(analysis)
            analysis = job.result()
        with progress.phase("rendering HTML"):
            html = render_within(analysis, packed, config.max_report_mb, config.timings)
        render_s = time.perf_counter() - t0
    analysis = dataclasses.replace(analysis, timings=dataclasses.replace(
        analysis.timings, load_s=load_s, render_s=render_s, total_s=time.perf_counter() - start))
    if html is not None:
        write_atomic(out, html)
        progress.note(f"wrote {out} ({len(html.encode()) / 1e6:.1f} MB)")
    if json_out is not None:
        write_atomic(json_out, dumps_json(analysis_to_dict(analysis, config.timings)))
        progress.note(f"wrote {json_out}")
    if card_out is not None:
        from .report.model_card import model_card

        write_atomic(card_out, model_card(analysis, Path(out).name if out is not None else None))
        progress.note(f"wrote {card_out}")
    return analysis
