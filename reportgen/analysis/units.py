"""The unit view of a kernel (one row per output unit) and per-unit checks: dead and duplicate units."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..types import Layout, Role, TensorRecord, UnitStats
from .stats import bucket

MATRIX_ROLES: tuple[Role, ...] = ("dense", "conv", "embedding")


def is_matrix_like(record: TensorRecord) -> bool:
    """Float kernels with unit structure: what the spectral and projection phases analyse."""
    return (record.role in MATRIX_ROLES and len(record.shape) >= 2 and record.size > 0
            and not record.dtype.startswith(("int", "uint", "bool")))


def n_units(record: TensorRecord) -> int:
    """Rows of the unit matrix, read from the shape alone (no load)."""
    shape = record.shape
    if record.role == "embedding" or record.layout == "pytorch":
        return shape[0]
    if record.role == "conv":
        return shape[-1]
    return int(np.prod(shape[1:]))


def conv_oi(kernel: np.ndarray, layout: Layout) -> np.ndarray:
    """Any conv kernel as [out, in, *spatial]: Flax stores [*spatial, in, out], PyTorch [out, in, *spatial]."""
    if layout == "pytorch":
        return kernel
    nd = kernel.ndim
    return np.transpose(kernel, (nd - 1, nd - 2, *range(nd - 2)))


def unit_matrix(array: np.ndarray, role: Role, layout: Layout) -> np.ndarray | None:
    """[units, fan_in] whatever the source layout; None for tensors without unit structure."""
    if role not in MATRIX_ROLES or array.ndim < 2:
        return None
    if role == "embedding":
        return array.reshape(array.shape[0], -1)  # rows are tokens/positions in both layouts
    if role == "conv":
        oi = conv_oi(array, layout)
        return oi.reshape(oi.shape[0], -1)  # in-major then spatial: [out, in*kh*kw]
    if layout == "pytorch":
        return array.reshape(array.shape[0], -1)
    # Flax dense: [in, out]; DenseGeneral [in, *out_dims] puts all output dims after the first.
    return array.reshape(array.shape[0], -1).T


@jax.jit
def _unit_kernel(m: jax.Array, n_valid: jax.Array, dead_rel: jax.Array):
    """Row max|w|, the dead-row floor and the 64 most similar live pairs, all on device."""
    m = jnp.where(jnp.isfinite(m), m.astype(jnp.float32), 0.0)
    valid = jnp.arange(m.shape[0]) < n_valid
    row_max = jnp.max(jnp.abs(m), axis=1)
    floor = jnp.maximum(1e-12, dead_rel * jnp.nanmedian(jnp.where(valid, row_max, jnp.nan)))
    alive = valid & (row_max > floor)
    norms = jnp.linalg.norm(m, axis=1, keepdims=True)
    u = m / jnp.where(norms > 0, norms, 1.0)
    cos = jnp.matmul(u, u.T, precision=jax.lax.Precision.HIGHEST)  # no bf16 passes on GPU/TPU
    keep = jnp.triu(alive[:, None] & alive[None, :], k=1)  # dead rows are not "duplicates"
    values, flat = jax.lax.top_k(jnp.where(keep, cos, -2.0).reshape(-1), 64)
    return row_max, floor, values, flat // m.shape[0], flat % m.shape[0]


def _pad(m: np.ndarray) -> np.ndarray:
    """Zero-pad rows and columns to bucket sizes: zeros change neither norms nor cosines."""
    rows, cols = bucket(m.shape[0]), bucket(m.shape[1])
    if (rows, cols) == m.shape:
        return m
    out = np.zeros((rows, cols), np.float32)
    out[: m.shape[0], : m.shape[1]] = m
    return out


def unit_stats(m: np.ndarray, dead_rel: float, duplicate_cos: float, max_units: int) -> UnitStats:
    """Dead units (row max|w| <= dead_rel x median row max|w|) and up to 64 near-duplicate pairs.

    Layers wider than `max_units` are checked on an evenly spaced, deterministic subset of
    rows (cosines cost units² memory); the result says how many units were compared.
    """
    n, fan_in = m.shape
    sample = np.arange(n) if n <= max_units else np.linspace(0, n - 1, max_units).round().astype(int)
    sub = np.asarray(m[sample], dtype=np.float32)
    row_max, floor, values, ii, jj = jax.device_get(
        _unit_kernel(_pad(sub), np.int32(len(sample)), np.float32(dead_rel)))
    dead = tuple(int(sample[i]) for i in np.flatnonzero(row_max[: len(sample)] <= floor))
    duplicates = tuple((int(sample[i]), int(sample[j]), float(v))
                       for v, i, j in zip(values, ii, jj) if v > duplicate_cos)
    return UnitStats(n_units=n, fan_in=fan_in, dead=dead, duplicates=duplicates,
                     duplicates_checked=len(sample))
