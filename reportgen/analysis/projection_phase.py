"""The projection phase: neuron maps of every layer, UMAP and t-SNE for a budget of layers."""
from __future__ import annotations

import dataclasses
import threading

import numpy as np

from ..config import Config
from ..progress import Progress
from ..types import JointMap, ModelWeights, NeuronMap, TensorAnalysis, TensorRecord
from .embed2d import MIN_POINTS, load_umap
from .projection import evenly_spaced, head_groups, joint_map, neuron_map
from .units import is_matrix_like, n_units, unit_matrix


def nonlinear_layers(weights: ModelWeights, config: Config) -> list[str]:
    """The layers that get UMAP and t-SNE, evenly spaced in depth, within the point budget.

    Each layer places at most projection_nonlinear_points units; layers are added (first,
    last, then evenly between) until projection_nonlinear_budget points are used, so a small
    model gets every layer and a large one a few. Deterministic: shapes alone decide.
    """
    layers = [(r.name, n_units(r)) for r in weights if is_matrix_like(r) and n_units(r) >= MIN_POINTS]
    for count in range(len(layers), 0, -1):
        picked = [layers[i] for i in evenly_spaced(len(layers), count)]
        if sum(min(n, config.projection_nonlinear_points) for _, n in picked) <= config.projection_nonlinear_budget:
            return [name for name, _ in picked]
    return [layers[0][0]] if layers else []


def _map(record: TensorRecord, config: Config, nonlinear: bool) -> tuple[NeuronMap | str, np.ndarray]:
    m = unit_matrix(record.load(), record.role, record.layout)
    groups = head_groups(record.shape, record.role, record.layout)
    return neuron_map(m, config, nonlinear, groups, "head" if groups is not None else ""), m


def prefetch_libraries(config: Config) -> None:
    """Import umap-learn and sklearn.manifold in the background while the JAX phases run.

    The imports take ~4 s here (umap pulls in pynndescent and numba); by the time the
    projection phase starts they are done.
    """
    def load():
        try:
            load_umap(config.disk_cache)
            import sklearn.manifold  # noqa: F401
        except Exception:  # the projection phase reports import problems itself
            pass

    threading.Thread(target=load, name="reportgen-prefetch", daemon=True).start()


def projection_phase(weights: ModelWeights, results: list[TensorAnalysis], config: Config, progress: Progress,
                     nonlinear: list[str]) -> tuple[list[TensorAnalysis], tuple[JointMap, ...]]:
    todo = [i for i, r in enumerate(weights) if is_matrix_like(r) and not results[i].errors]
    out = list(results)
    by_fan_in: dict[int, list[tuple[str, np.ndarray]]] = {}
    if nonlinear and load_umap.cache_info().currsize == 0:  # the background import is still running
        progress.note("loading umap-learn; the first run after installing also compiles its numba code (~30 s)")
    with progress.phase(f"neuron maps of {len(todo)} layers ({len(nonlinear)} with UMAP and t-SNE)"):
        for done, i in enumerate(todo, 1):
            record = weights.tensors[i]
            progress.step(done, len(todo), record.name)
            try:
                found, m = _map(record, config, record.name in nonlinear)
            except Exception as exc:  # one bad tensor must not kill the report
                if config.strict:
                    raise
                out[i] = dataclasses.replace(out[i], errors=out[i].errors + (
                    f"neuron map failed: {type(exc).__name__}: {exc}",))
                continue
            if isinstance(found, str):
                out[i] = dataclasses.replace(out[i], notes=out[i].notes + (f"Neuron map: {found}.",))
                continue
            if record.name not in nonlinear and found.n_units >= MIN_POINTS:
                found = dataclasses.replace(found, notes=found.notes + (
                    "UMAP and t-SNE not computed for this layer (projection_nonlinear_budget).",))
            out[i] = dataclasses.replace(out[i], neuron_map=found)
            if record.role != "embedding":
                by_fan_in.setdefault(m.shape[1], []).append((record.name, m))
        joints = tuple(j for fan_in, layers in by_fan_in.items() if len(layers) >= 2
                       for j in [joint_map(fan_in, layers, config)] if j is not None)
    return out, joints
