"""Which weights matter for which class: first-order Taylor importance and the diagonal empirical
Fisher of each class's cross-entropy, per weight, aggregated per tensor and per unit."""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


@functools.lru_cache(maxsize=8)
def _kernel(apply_fn: Callable) -> Callable:
    """(params, x [B, ...], y [B], mask [B]) -> (Σ per-example grads, Σ per-example grads²),
    jit-compiled once per apply_fn and batch shape; padded examples are masked out."""

    def loss(p, xi, yi):
        logits = apply_fn(p, xi[None])[0]
        return -jax.nn.log_softmax(logits)[yi]

    @jax.jit
    def sums(params, x, y, mask):
        g = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(params, x, y)
        w = mask.astype(jnp.float32)

        def reduce(leaf):
            wl = w.reshape((-1,) + (1,) * (leaf.ndim - 1))
            return (leaf * wl).sum(0), (leaf ** 2 * wl).sum(0)

        pairs = jax.tree_util.tree_map(reduce, g)
        first = jax.tree_util.tree_map(lambda _, pr: pr[0], params, pairs)
        second = jax.tree_util.tree_map(lambda _, pr: pr[1], params, pairs)
        return first, second

    return sums


def class_gradients(apply_fn: Callable, params, inputs: np.ndarray, labels: np.ndarray, n_classes: int,
                    batch: int = 64) -> list[tuple[int, int, object, object]]:
    """Per class k with examples: (k, n_k, mean gradient of its examples' loss, mean squared
    per-example gradient), as pytrees shaped like params (on the host)."""
    sums = _kernel(apply_fn)
    out = []
    for k in range(n_classes):
        idx = np.flatnonzero(labels == k)
        if idx.size == 0:
            continue
        g1 = g2 = None
        for start in range(0, idx.size, batch):
            take = idx[start:start + batch]
            pad = batch - take.size  # fixed batch shape: one compilation for every class and batch
            x = np.concatenate([inputs[take], np.repeat(inputs[take[:1]], pad, 0)]) if pad else inputs[take]
            y = np.concatenate([labels[take], np.repeat(labels[take[:1]], pad)]) if pad else labels[take]
            mask = np.arange(batch) < take.size
            s1, s2 = sums(params, jnp.asarray(x), jnp.asarray(y, jnp.int32), jnp.asarray(mask))
            g1 = s1 if g1 is None else jax.tree_util.tree_map(jnp.add, g1, s1)
            g2 = s2 if g2 is None else jax.tree_util.tree_map(jnp.add, g2, s2)
        mean1, mean2 = jax.device_get([jax.tree_util.tree_map(lambda a: a / idx.size, g) for g in (g1, g2)])
        out.append((k, int(idx.size), mean1, mean2))
    return out


def per_unit(values: np.ndarray, role: str, layout: str) -> np.ndarray | None:
    """Per-weight importance summed over each output unit's incoming weights (None: no units)."""
    from .units import unit_matrix

    m = unit_matrix(values, role, layout)
    return None if m is None else m.sum(axis=1)
