"""Expanded weights by autodiff through the linearised model, lucid's connection ranking,
one-sided NMF factors, top-activating examples and activation maximisation."""
from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

from .linearize import Layer, Traced, layer_outputs

INPUT = "input"


def _spatial2d(a: np.ndarray) -> np.ndarray:
    """[units, *spatial, channels] -> [units, h, w, channels]: 1-D maps as one row, dense as 1x1."""
    if a.ndim == 2:
        return a[:, None, None, :]
    if a.ndim == 3:
        return a[:, None, :, :]
    if a.ndim > 4:  # the phase notes the pair as not computed, with this reason
        raise ValueError(f"{a.ndim - 2}-D spatial maps are not drawn (1-D and 2-D only)")
    return a


@functools.lru_cache(maxsize=64)
def _jacobian_fn(traced: Traced, source: Layer | None, target: Layer):
    """jit((params, x_ref, a0) -> d target[centre] / d source) for one pair of one trace."""
    import jax

    centre = tuple(s // 2 for s in target.spatial)

    def read(a, params, x_ref):  # the target's matmul result, given the source's (or the input)
        x, inject = (a, {}) if source is None else (x_ref, {source.param: a})
        out = target.units_last(layer_outputs(traced, params, x, (target.param,), linear=True,
                                              inject=inject)[target.param][0])
        return out[centre] if centre else out

    return jax.jit(lambda params, x_ref, a0: jax.jacrev(read)(a0, params, x_ref))


@functools.lru_cache(maxsize=64)
def _outputs_fn(traced: Traced, wanted: tuple[str, ...], linear: bool):
    import jax

    return jax.jit(lambda params, x: layer_outputs(traced, params, x, wanted, linear=linear))


def expanded_weights(traced: Traced, params: Any, source: Layer | None, target: Layer,
                     x_ref) -> tuple[np.ndarray, tuple | None, tuple, bool]:
    """(weights [target units, h, w, source units], centre, offset, truncated).

    The Jacobian of the target layer's matmul result with respect to the source layer's (or,
    with source None, the input), through the model with ReLU as identity and max-pool as
    average-pool, read at the target's centre position as in Voss et al. (2021). The map is then
    affine in the source, so the Jacobian is the same at every point; where other
    non-linearities remain, it is their linearisation at `x_ref`'s activations. Conv targets keep
    only the window of source positions that reach the centre (the receptive field).
    """
    x_ref = np.asarray(x_ref)
    a0 = x_ref if source is None else _outputs_fn(traced, (source.param,), True)(params, x_ref)[source.param]
    jac = np.asarray(_jacobian_fn(traced, source, target)(params, x_ref, a0), np.float32)  # [target units, *a0]
    if source is None:  # the input's own layout: NCHW images (as saliency reads them) become NHWC
        from .saliency_phase import channels_last

        w = _spatial2d(channels_last(jac[:, 0]))
    else:
        w = _spatial2d(jac.reshape(len(jac), *source.spatial, source.n_units))
    centre = tuple(s // 2 for s in target.spatial) or None
    offset: tuple = (0, 0)
    truncated = False
    if centre and w.shape[1] * w.shape[2] > 1:
        # Outside the receptive field the Jacobian is exactly zero: keep the window that is not.
        live = np.abs(w).sum(axis=(0, 3)) > 0
        rows, cols = np.flatnonzero(live.any(axis=1)), np.flatnonzero(live.any(axis=0))
        if rows.size:
            truncated = bool(rows[0] == 0 or cols[0] == 0 or rows[-1] == live.shape[0] - 1
                             or cols[-1] == live.shape[1] - 1) and live.size > 1
            w = w[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
            offset = (int(rows[0]), int(cols[0]))
    return np.ascontiguousarray(w), centre, offset, truncated


def rank_connections(w: np.ndarray, max_units: int, top: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(shown target units, per target unit its `top` source units ranked by the L2 norm of the
    spatial kernel connecting them (lucid's ranking), those norms). The `max_units` target
    units with the largest expanded-weight norm are the ones shown, in index order."""
    norms = np.sqrt((w.astype(np.float64) ** 2).sum(axis=(1, 2)))  # [target, source]
    shown = np.sort(np.argsort(-norms.sum(axis=1), kind="stable")[:max_units]).astype(np.int32)
    ranked = np.argsort(-norms, axis=1, kind="stable")[:, :top].astype(np.int32)
    return shown, ranked, np.take_along_axis(norms, ranked, axis=1).astype(np.float32)


def one_sided_nmf(w: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(factors [k, source], excitation and inhibition [target, h, w, k], explained share).

    The source-unit axis is factored: rows of max(0, W) and max(0, −W) (every target unit and
    position) are stacked into one non-negative matrix X ≈ U·V, V [k, source] the factors.
    Factors are scaled to a largest entry of 1 (U takes the scale) and ordered by their total
    loading, so that the first factor is red, the second green and the third blue."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    n_t, h, wd, n_s = w.shape
    flat = w.reshape(-1, n_s).astype(np.float64)
    x = np.concatenate([np.maximum(flat, 0), np.maximum(-flat, 0)])
    model = NMF(n_components=k, init="nndsvda", max_iter=300, tol=1e-4, random_state=seed)
    with warnings.catch_warnings():
        # Not converged at 300 sweeps: on unstructured weights more sweeps change the explained
        # share (which the report gives) by under 0.1%, at 10x the time (measured).
        warnings.simplefilter("ignore", ConvergenceWarning)
        u = model.fit_transform(x)
    v = model.components_
    scale = v.max(axis=1)
    scale[scale == 0] = 1.0
    u, v = u * scale, v / scale[:, None]
    order = np.argsort(-u.sum(axis=0), kind="stable")
    u, v = u[:, order], v[order]
    total = float((x ** 2).sum())
    explained = 1.0 - float(((x - u @ v) ** 2).sum()) / total if total > 0 else 1.0
    half = len(flat)
    shape = (n_t, h, wd, k)
    return (v.astype(np.float32), u[:half].reshape(shape).astype(np.float32),
            u[half:].reshape(shape).astype(np.float32), explained)


@functools.lru_cache(maxsize=16)
def _activations_fn(traced: Traced, layers: tuple[Layer, ...]):
    import jax
    import jax.numpy as jnp

    def one(params, xi):
        out = layer_outputs(traced, params, xi[None], tuple(l.param for l in layers))
        return jnp.concatenate([jnp.max(out[l.param][0].reshape(-1, l.n_units), axis=0) for l in layers])

    return jax.jit(jax.vmap(one, in_axes=(None, 0)))


def unit_activations(traced: Traced, params: Any, layers: tuple[Layer, ...], x: np.ndarray,
                     batch: int) -> dict[str, np.ndarray]:
    """Per layer, [examples, units]: each unit's largest matmul result over positions.

    A per-unit bias and any increasing activation after it leave the order of examples as it
    is, so this ranks examples as the unit's largest post-activation does (exactly so for
    ReLU units: ties at zero aside)."""
    from .saliency_phase import batched

    fn = _activations_fn(traced, tuple(layers))
    flat = batched(lambda x: fn(params, x), {"x": x}, batch)
    ends = np.cumsum([0] + [l.n_units for l in layers])
    return {l.name: flat[:, ends[i]:ends[i + 1]] for i, l in enumerate(layers)}


def top_examples(acts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, the `k` examples with the largest activation (ties: lower index first)."""
    order = np.argsort(-acts, axis=0, kind="stable")[:k].T.astype(np.int32)  # [units, k]
    return order, np.take_along_axis(acts.T, order, axis=1).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _actmax_fn(traced: Traced, layer: Layer, lo: float, hi: float, steps: int):
    import jax
    import jax.numpy as jnp

    shape = traced.input_shape[1:]
    span = hi - lo
    centre = tuple(d // 2 for d in layer.spatial)

    def unit_map(params, img, unit):
        return layer.units_last(layer_outputs(traced, params, img[None], (layer.param,))[layer.param][0])[..., unit]

    def loss(z, params, unit, s):
        img = lo + span * jax.nn.sigmoid(z)
        rel = (img - lo) / span - 0.5
        tv = sum(jnp.mean(jnp.abs(jnp.diff(rel, axis=a))) for a in range(len(shape) - 1))
        act = unit_map(params, img, unit)
        return -(act[centre] if centre else act) / s + 0.5 * jnp.mean(rel ** 2) + 0.5 * tv

    grad = jax.grad(loss)

    def solve(params, z, unit, s):
        def step(i, state):  # Adam, written out: one small loop, no optimiser dependency
            z, m, v = state
            g = grad(z, params, unit, s)
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            t = i + 1.0
            return z - 0.05 * (m / (1 - 0.9 ** t)) / (jnp.sqrt(v / (1 - 0.999 ** t)) + 1e-8), m, v

        z, _, _ = jax.lax.fori_loop(0, steps, step, (z, jnp.zeros_like(z), jnp.zeros_like(z)))
        img = lo + span * jax.nn.sigmoid(z)
        return img, jnp.max(unit_map(params, img, unit))  # measured as the examples are ranked

    return jax.jit(jax.vmap(solve, in_axes=(None, 0, 0, 0)))


def forward_flops(traced: Traced, params: Any, layer: Layer, x1: np.ndarray) -> float | None:
    """XLA's count of floating-point operations from one input to the layer's matmul result
    (None where the backend gives no count): what one step of activation maximisation costs,
    a third of it, known before anything runs and the same on every run."""
    try:
        cost = _outputs_fn(traced, (layer.param,), False).lower(params, x1).cost_analysis()
    except Exception:  # a backend without cost analysis: the step count is then not limited
        return None
    cost = cost[0] if isinstance(cost, (list, tuple)) and cost else cost
    flops = cost.get("flops") if isinstance(cost, dict) else None
    return float(flops) if flops and flops > 0 else None


def activation_max(traced: Traced, params: Any, layer: Layer, units: np.ndarray, lo: float, hi: float,
                   scale: np.ndarray, steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images [units, *input], largest activation reached [units]): gradient ascent on each
    unit's matmul result at the centre position (lucid's neuron objective: the position
    expanded weights are read at) from a fixed-seed start.

    The image is a sigmoid of free parameters, so it stays in the inputs' range [lo, hi]; an L2
    pull to the range's middle and a total-variation penalty keep it smooth. The objective is
    divided by `scale` (the unit's spread over the examples), so one step size suits every unit.
    """
    z0 = 0.01 * np.random.default_rng(seed).standard_normal((len(units), *traced.input_shape[1:]), np.float32)
    images, reached = _actmax_fn(traced, layer, float(lo), float(hi), int(steps))(
        params, z0, np.asarray(units, np.int32), np.asarray(scale, np.float32))
    return np.asarray(images, np.float32), np.asarray(reached, np.float32)


def default_chosen(layers: tuple[Layer, ...], fed: set[str]) -> tuple[Layer, ...]:
    """The last conv layer and the first hidden dense layer (the output layer is not hidden),
    among the layers `fed` by a layer below (or the input) through expanded weights."""
    convs = [l for l in layers if l.kind == "conv" and l.name in fed]
    dense = [l for l in layers[:-1] if l.kind == "dense" and l.name in fed]
    return tuple(l for l in (convs[-1] if convs else None, dense[0] if dense else None) if l is not None)


def pairs(layers: tuple[Layer, ...], skip: int, with_input: bool) -> list[tuple[Layer | None, Layer, tuple[Layer, ...]]]:
    """(source or None for the input, target, skipped layers): consecutive pairs and pairs that
    skip up to `skip` layers."""
    nodes: list[Any] = ([None] if with_input else []) + list(layers)
    out = []
    for gap in range(1, skip + 2):
        for i in range(len(nodes) - gap):
            out.append((nodes[i], nodes[i + gap], tuple(nodes[i + 1:i + gap])))
    return out
