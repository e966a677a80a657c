"""The circuits phase: which layer pairs are expanded, which layers get context, then the kernels."""
from __future__ import annotations

import math

import numpy as np

from ..config import Config
from ..progress import Progress
from ..types import ActivationMax, CircuitLayer, Circuits, ExpandedWeights, ModelSpec, UnitContext, WeightFactors
from . import circuits as C
from .linearize import Layer, trace
from .projection import evenly_spaced
from .training import match_tensor
from .views import heatmap

MIN_ACTMAX_STEPS = 32  # fewer steps leave the image near its start: not worth showing


def _chosen(layers: tuple[Layer, ...], wanted: tuple[str, ...], fed: set[str], notes: list[str]) -> tuple[Layer, ...]:
    if not wanted:
        return C.default_chosen(layers, fed)
    out = []
    for name in wanted:
        hit = next((l for l in layers if name in (l.name, l.param) or l.name.endswith("/" + name)), None)
        if hit is None:
            notes.append(f"circuits_layers: no layer {name!r} (layers: {', '.join(l.name for l in layers)}).")
        elif hit not in out:
            out.append(hit)
    return tuple(out)


def _expand(traced, spec: ModelSpec, todo: list, config: Config, progress: Progress, notes: list[str]) -> list[ExpandedWeights]:
    inputs = np.asarray(spec.inputs)
    floating = np.issubdtype(inputs.dtype, np.floating)
    x_ref = inputs.mean(axis=0, keepdims=True).astype(inputs.dtype) if floating else inputs[:1]
    expanded: list[ExpandedWeights] = []
    unconnected: list[str] = []
    with progress.phase(f"expanded weights for {len(todo)} layer pairs"):
        for i, (src, tgt, skipped) in enumerate(todo, 1):
            label = f"{src.name if src else C.INPUT} → {tgt.name}"
            progress.step(i, len(todo), label)
            mb = 4 * math.prod(src.out_shape if src else traced.input_shape) * tgt.n_units / 2**20
            if mb > config.circuits_max_mb:
                notes.append(f"Expanded weights {label} not computed: the Jacobian would take {mb:,.0f} MB, "
                             "over circuits_max_mb.")
                continue
            try:
                w, centre, offset, truncated = C.expanded_weights(traced, spec.params, src, tgt, x_ref)
            except Exception as exc:  # one pair (an unusual op in between) must not lose the others
                if config.strict:
                    raise
                notes.append(f"Expanded weights {label} failed: {type(exc).__name__}: {exc}")
                continue
            if not np.any(w):  # parallel branches (attention's query and key): nothing to show
                unconnected.append(label)
                continue
            shown, ranked, norms = C.rank_connections(w, config.circuits_max_units, config.circuits_top_inputs)
            dense_source = w.shape[1] * w.shape[2] == 1  # 1x1 tiles say nothing: a heatmap of the matrix does
            expanded.append(ExpandedWeights(
                source=src.name if src else C.INPUT, target=tgt.name, skipped=tuple(l.name for l in skipped),
                weights=w, centre=centre, offset=offset, truncated=truncated, shown=shown, ranked=ranked,
                norms=norms, heatmap=heatmap(w[:, 0, 0, :], config.heatmap_max_cells) if dense_source else None))
    if unconnected:
        notes.append(f"No path (even linearised) from source to target, so no expanded weights: "
                     f"{'; '.join(unconnected)}.")
    return expanded


def _factors(chosen, consecutive: dict[str, ExpandedWeights], k: int, notes: list[str]) -> list[WeightFactors]:
    out = []
    for l in chosen:
        e = consecutive.get(l.name)
        if e is None:
            continue
        if e.weights.shape[-1] <= k:
            notes.append(f"NMF factors of {l.name}: its source ({e.source}) has {e.weights.shape[-1]} units, "
                         f"not more than the {k} factors.")
            continue
        v, excitation, inhibition, explained = C.one_sided_nmf(e.weights, k)
        out.append(WeightFactors(source=e.source, target=l.name, factors=v, excitation=excitation,
                                 inhibition=inhibition, explained=explained))
    return out


def _actmax(traced, spec: ModelSpec, chosen, consecutive: dict[str, ExpandedWeights], acts: dict[str, np.ndarray],
            config: Config, progress: Progress, notes: list[str]) -> list[ActivationMax]:
    """Per chosen layer, within circuits_actmax_gflop: the step count follows from XLA's flop
    count of a forward pass (deterministic, unlike a time limit), and a layer that cannot get
    MIN_ACTMAX_STEPS is left out with a note."""
    inputs = np.asarray(spec.inputs)
    lo, hi = float(inputs.min()), float(inputs.max())
    budget = config.circuits_actmax_gflop * 1e9 if config.circuits_actmax_gflop > 0 else float("inf")
    out = []
    with progress.phase(f"activation maximisation for {len(chosen)} layers"):
        for i, l in enumerate(chosen):
            progress.step(i + 1, len(chosen), l.name)
            e = consecutive.get(l.name)
            units = e.shown if e is not None else np.arange(min(l.n_units, config.circuits_max_units), dtype=np.int32)
            share = budget / (len(chosen) - i)  # what is left, shared by the layers left
            flops = C.forward_flops(traced, spec.params, l, inputs[:1])
            per_step = 3 * len(units) * flops if flops else 0.0  # forward and backward, every unit
            steps = config.circuits_actmax_steps if not per_step else min(config.circuits_actmax_steps,
                                                                          int(share // per_step))
            if per_step and steps < min(MIN_ACTMAX_STEPS, config.circuits_actmax_steps):
                notes.append(f"Activation maximisation of {l.name} left out: {len(units)} units x "
                             f"{config.circuits_actmax_steps} steps would take "
                             f"{per_step * config.circuits_actmax_steps / 1e9:,.0f} GFLOP ({flops / 1e9:.2g} per "
                             f"forward pass), over the {share / 1e9:,.0f} left of circuits_actmax_gflop.")
                continue
            if steps < config.circuits_actmax_steps:
                notes.append(f"Activation maximisation of {l.name}: {steps} of {config.circuits_actmax_steps} "
                             "steps, within circuits_actmax_gflop.")
            budget -= steps * per_step
            seen = acts[l.name][:, units]
            images, reached = C.activation_max(traced, spec.params, l, units, lo, hi, seen.std(axis=0) + 1e-6, steps)
            out.append(ActivationMax(layer=l.name, units=units, images=images, activation=reached,
                                     top_example=seen.max(axis=0)))
    return out


def _drawn(expanded: list[ExpandedWeights], chosen: tuple[str, ...], cap: int, notes: list[str]) -> tuple[int, ...]:
    """The expanded-weight views the page draws: pairs that skip layers first (the point of
    expanding), then consecutive pairs not already drawn as top connections; at most `cap`,
    each kind evenly spaced in depth."""
    skips = [i for i, e in enumerate(expanded) if e.skipped]
    rest = [i for i, e in enumerate(expanded) if not e.skipped and e.target not in chosen]
    if len(skips) + len(rest) <= cap:
        return tuple(skips + rest)
    take_skips = [skips[j] for j in evenly_spaced(len(skips), cap)]
    room = cap - len(take_skips)
    picked = take_skips + ([rest[j] for j in evenly_spaced(len(rest), room)] if room > 0 else [])
    notes.append(f"Expanded weights drawn for {len(picked)} of {len(skips) + len(rest)} pairs (circuits_max_pairs): "
                 "those that skip a layer first, evenly spaced in depth; the sidecar has every pair.")
    return tuple(picked)


def circuits_phase(spec: ModelSpec, config: Config, progress: Progress, tensor_names: tuple[str, ...]) -> Circuits | str:
    inputs = np.asarray(spec.inputs)
    floating = np.issubdtype(inputs.dtype, np.floating)
    traced = trace(spec.apply_fn, spec.params, inputs[:1])
    layers = traced.layers
    if not layers:
        return "no dense or conv layer was found in the model's computation (apply_fn)"
    notes: list[str] = []
    todo = C.pairs(layers, config.circuits_skip, floating and spec.input_kind in ("image", "tabular"))
    expanded = _expand(traced, spec, todo, config, progress, notes)
    consecutive = {e.target: e for e in expanded if not e.skipped}
    chosen = _chosen(layers, config.circuits_layers, set(consecutive), notes)
    take = evenly_spaced(len(inputs), config.circuits_max_examples)
    with progress.phase(f"top-activating examples over {len(take):,} inputs"):
        acts = C.unit_activations(traced, spec.params, layers, inputs[take], config.saliency_batch)
    contexts = []
    for l in layers:
        order, values = C.top_examples(acts[l.name], max(config.circuits_examples, 1))
        contexts.append(UnitContext(layer=l.name, examples=take[order].astype(np.int32), values=values))
    factors = _factors(chosen, consecutive, config.circuits_nmf_factors, notes)
    actmax = (_actmax(traced, spec, chosen, consecutive, acts, config, progress, notes)
              if spec.input_kind == "image" and floating and config.circuits_actmax_steps > 0 else [])
    drawn = _drawn(expanded, tuple(l.name for l in chosen), config.circuits_max_pairs, notes)
    # The inputs the page shows: each drawn expanded view's target units' best example, every
    # chosen unit's top examples.
    by_layer = {c.layer: c for c in contexts}
    ids = [by_layer[expanded[i].target].examples[expanded[i].shown, 0] for i in drawn]
    ids += [by_layer[l.name].examples[consecutive[l.name].shown] for l in chosen if l.name in consecutive]
    example_ids = np.unique(np.concatenate([np.ravel(i) for i in ids])) if ids else np.zeros(0, np.int32)
    if len(take) < len(inputs):
        notes.append(f"Top-activating examples from {len(take):,} of {len(inputs):,} inputs, evenly spaced "
                     "(circuits_max_examples).")
    n_classes = len(spec.class_names or ())
    return Circuits(
        layers=tuple(CircuitLayer(name=l.name, tensor=match_tensor(l.param, tensor_names), kind=l.kind,
                                  n_units=l.n_units, spatial=l.spatial) for l in layers),
        expanded=tuple(expanded), chosen=tuple(l.name for l in chosen),
        drawn=drawn, contexts=tuple(contexts),
        factors=tuple(factors), actmax=tuple(actmax), example_ids=example_ids.astype(np.int32),
        example_images=inputs[example_ids], input_kind=spec.input_kind,
        input_names=tuple(map(str, spec.feature_names or ())) if spec.input_kind == "tabular" else (),
        class_names=tuple(map(str, spec.class_names)) if n_classes and layers[-1].n_units == n_classes else (),
        n_examples=len(take), notes=tuple(notes))
