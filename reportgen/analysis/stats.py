"""Per-tensor summary statistics in one jit-compiled pass (compiled once per size and dtype)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..types import PERCENTILES, Histogram, TensorStats
from . import device

HIST_BINS = 64


@functools.partial(jax.jit, static_argnames="with_percentiles")
def _stats_kernel(x: jax.Array, with_percentiles: bool = True) -> tuple[jax.Array, ...]:
    # Flattened, bucket-padded input: the compile cache is keyed by bucket and dtype only.
    x = x.astype(jnp.float32)
    finite = jnp.isfinite(x)
    n = jnp.maximum(jnp.sum(finite), 1).astype(jnp.float32)
    xf = jnp.where(finite, x, 0.0)
    mean = jnp.sum(xf) / n
    # Two passes (mean, then centred moments) keep float32 variance accurate for big tensors.
    d = jnp.where(finite, x - mean, 0.0)
    m2 = jnp.sum(d * d) / n
    m4 = jnp.sum((d * d) ** 2) / n
    a = jnp.abs(xf)
    amax = jnp.max(a)
    sumsq = jnp.sum(xf * xf)
    masked = jnp.where(finite, x, jnp.nan)
    q = jnp.asarray(PERCENTILES, dtype=jnp.float32)
    # Histogram over [-max|w|, max|w|] (symmetric around 0) or [0, max] for non-negative
    # tensors; right edge inclusive like numpy. Integer scatter-add keeps counts exact.
    lo = jnp.where(jnp.min(jnp.where(finite, x, jnp.inf)) >= 0, 0.0, -amax)
    hi = jnp.where(amax > 0, amax, 1.0)
    idx = jnp.clip(jnp.floor((xf - lo) / (hi - lo) * HIST_BINS), 0, HIST_BINS - 1).astype(jnp.int32)
    counts = jnp.zeros(HIST_BINS, jnp.int32).at[idx].add(finite.astype(jnp.int32))
    return (
        mean,
        jnp.sqrt(m2),
        jnp.min(jnp.where(finite, x, jnp.inf)),
        jnp.max(jnp.where(finite, x, -jnp.inf)),
        jnp.sum(a) / n,
        jnp.sqrt(sumsq / n),
        jnp.sqrt(sumsq),
        jnp.where(m2 > 0, m4 / (m2 * m2) - 3.0, 0.0),
        jnp.sum(finite & (x == 0)) / n,
        jnp.sum(finite & (a < 1e-3 * amax)) / n,
        jnp.sum(jnp.isnan(x)),
        jnp.sum(jnp.isinf(x)),
        jnp.nanpercentile(masked, q) if with_percentiles else jnp.zeros(len(PERCENTILES)),
        jnp.nanpercentile(jnp.abs(masked), q) if with_percentiles else jnp.zeros(len(PERCENTILES)),
        lo,
        hi,
        counts,
    )


def bucket(n: int) -> int:
    """Smallest of 256·{1, 1.5}·2^k that holds n: at most ~2 compiles per octave of sizes."""
    size = 256
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def as_float_input(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Flatten and NaN-pad to a bucket size; returns the padded vector and the pad count.

    Every statistic already excludes non-finite values, so NaN padding leaves them exact while
    the compile cache sees a handful of sizes instead of one per tensor. Integers, bools and
    float64 become float32 on the host (jax runs in 32 bit); narrower floats stay as they are.
    """
    flat = np.asarray(array).reshape(-1)
    if flat.dtype.kind in "biu" or flat.dtype == np.float64:
        flat = flat.astype(np.float32)
    pad = bucket(flat.size) - flat.size
    if pad:
        flat = np.concatenate([flat, np.full(pad, np.nan, flat.dtype)])
    return flat, pad


def _host_percentiles(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = flat.astype(np.float32, copy=False)
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    if not values.size:
        nan = np.full(len(PERCENTILES), np.nan)
        return nan, nan
    return np.percentile(values, PERCENTILES), np.percentile(np.abs(values), PERCENTILES)


def tensor_stats(array: np.ndarray) -> tuple[TensorStats, Histogram]:
    """Statistics and histogram of one non-empty tensor; one device_get brings them back."""
    flat, pad = as_float_input(array)
    # XLA:CPU sorts ~20x slower than numpy's introselect (5.3 s vs 0.24 s for 12M floats,
    # measured here), so on the CPU backend percentiles come from numpy on the host copy the
    # tensor already has; on accelerators they stay inside the compiled kernel.
    on_device = device.platform() != "cpu"
    out = jax.device_get(_stats_kernel(flat, with_percentiles=on_device))
    *scalars, pct, abs_pct, lo, hi, counts = out
    if not on_device:
        pct, abs_pct = _host_percentiles(flat[: flat.size - pad])
    (mean, std, mn, mx, abs_mean, rms, fro, kurt, sparsity, near_zero, nan_count, inf_count) = scalars
    nan_count = int(nan_count) - pad
    stats = TensorStats(
        mean=float(mean), std=float(std), min=float(mn), max=float(mx), abs_mean=float(abs_mean),
        rms=float(rms), frobenius_norm=float(fro), kurtosis=float(kurt), sparsity=float(sparsity),
        near_zero_fraction=float(near_zero), nan_count=int(nan_count), inf_count=int(inf_count),
        percentiles=tuple(float(v) for v in pct), abs_percentiles=tuple(float(v) for v in abs_pct),
    )
    edges = np.linspace(float(lo), float(hi), HIST_BINS + 1)
    return stats, Histogram(edges=tuple(float(e) for e in edges), counts=tuple(int(c) for c in counts))
