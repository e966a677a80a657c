"""The projection phase: neuron maps of every layer, UMAP and t-SNE for a budget of layers."""
from __future__ import annotations

import dataclasses
import itertools
from collections import Counter, deque

import numpy as np

from ..config import Config
from ..progress import Progress
from ..types import JointMap, ModelWeights, TensorAnalysis, TensorRecord
from . import embed_worker
from .embed2d import MIN_POINTS
from .inflight import ByteGate, gate_for, working_bytes
from .projection import evenly_spaced, head_groups, joint_map_async, joint_rows, neuron_map_async
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


def _fan_in(record: TensorRecord) -> int:
    return record.size // n_units(record)


def joint_caps(weights: ModelWeights, todo: list[int], config: Config) -> dict[int, int]:
    """Per input dimension, the units each of its layers gives the cross-layer map: joint_points
    shared among them (planned from the shapes, so that each layer is sampled when it is mapped)."""
    count = Counter(_fan_in(weights.tensors[i]) for i in todo if weights.tensors[i].role != "embedding")
    return {fan_in: max(20, config.joint_points // c) for fan_in, c in count.items() if c >= 2}


def _map(record: TensorRecord, config: Config, nonlinear: bool, joint_cap: int | None, gate: ByteGate):
    """The layer's neuron map (pending UMAP/t-SNE) and its rows for a cross-layer map; the
    weights themselves are released when this returns (streaming: nothing keeps them)."""
    with gate.hold(working_bytes(record)):
        m = unit_matrix(record.load(), record.role, record.layout)
        groups = head_groups(record.shape, record.role, record.layout)
        found = neuron_map_async(m, config, nonlinear, groups, "head" if groups is not None else "")
        return found, (joint_rows(m, joint_cap) if joint_cap and not isinstance(found, str) else None)


def start_helper(config: Config) -> None:
    """Start the UMAP/t-SNE helper process now, so it imports and warms umap-learn meanwhile."""
    embed_worker.start(config.disk_cache)


def _failed(result: TensorAnalysis, exc: Exception, config: Config) -> TensorAnalysis:
    if config.strict:
        raise exc
    return dataclasses.replace(result, errors=result.errors + (f"neuron map failed: {type(exc).__name__}: {exc}",))


def _mapped(weights: ModelWeights, order: list[int], config: Config, nonlinear: list[str],
            caps: dict[int, int], progress: Progress) -> dict[int, tuple | Exception]:
    """_map of every layer in `order` on a small pool, a few in flight at a time.

    Their eigh, matmuls and linkage run outside the GIL. The window (not the whole list at
    once) matters on Ctrl-C: the pool's threads finish what is queued before the process can
    exit, so only a few layers are left to wait for.
    """
    from concurrent.futures import ThreadPoolExecutor

    from .pipeline import workers

    found: dict[int, tuple | Exception] = {}
    gate = gate_for([weights.tensors[i] for i in order])
    with ThreadPoolExecutor(workers(config)) as pool:
        def submit(i: int):
            r = weights.tensors[i]
            cap = caps.get(_fan_in(r)) if r.role != "embedding" else None
            return i, pool.submit(_map, r, config, r.name in nonlinear, cap, gate)

        queue = iter(order)
        pending = deque(submit(i) for i in itertools.islice(queue, 2 * workers(config)))
        while pending:
            i, job = pending.popleft()
            progress.step(len(found) + 1, len(order), weights.tensors[i].name)
            try:
                found[i] = job.result()
            except Exception as exc:  # one bad tensor must not kill the report
                found[i] = exc
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(submit(nxt))
    return found


def projection_phase(weights: ModelWeights, results: list[TensorAnalysis], config: Config, progress: Progress,
                     nonlinear: list[str]) -> tuple[list[TensorAnalysis], tuple[JointMap, ...]]:
    todo = [i for i, r in enumerate(weights) if is_matrix_like(r) and not results[i].errors]
    out = list(results)
    by_fan_in: dict[int, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    caps = joint_caps(weights, todo, config)
    finishing = []  # (index, collect): UMAP/t-SNE run in the helper while later layers get their PCA
    with progress.phase(f"neuron maps of {len(todo)} layers ({len(nonlinear)} with UMAP and t-SNE)"):
        # Layers with UMAP/t-SNE go first, so the helper's fits overlap the other layers' PCA.
        mapped = _mapped(weights, sorted(todo, key=lambda i: weights.tensors[i].name not in nonlinear), config,
                         nonlinear, caps, progress)
        for i in todo:  # file order from here on: the cross-layer maps list layers by depth
            record = weights.tensors[i]
            if isinstance(mapped[i], Exception):
                out[i] = _failed(out[i], mapped[i], config)
                continue
            found, rows = mapped.pop(i)
            if isinstance(found, str):
                out[i] = dataclasses.replace(out[i], notes=out[i].notes + (f"Neuron map: {found}.",))
                continue
            finishing.append((i, found))
            if rows is not None:
                by_fan_in.setdefault(_fan_in(record), []).append((record.name, *rows))
        joints = [j for fan_in, layers in by_fan_in.items() if len(layers) >= 2
                  for j in [joint_map_async(fan_in, layers, caps[fan_in], config)] if j is not None]
        if nonlinear:
            progress.step(len(todo), len(todo), "waiting for UMAP and t-SNE")
        for i, collect in finishing:
            try:
                found = collect()
            except Exception as exc:
                out[i] = _failed(out[i], exc, config)
                continue
            if weights.tensors[i].name not in nonlinear and found.n_units >= MIN_POINTS:
                found = dataclasses.replace(found, notes=found.notes + (
                    "UMAP and t-SNE not computed for this layer (projection_nonlinear_budget).",))
            out[i] = dataclasses.replace(out[i], neuron_map=found)
        joint_maps = tuple(collect() for collect in joints)
    return out, joint_maps
