"""Marchenko-Pastur bulk fit of an ESD (WeightWatcher 0.7.7's mp_fit): bulk edge, spikes, soft rank."""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .stats import bucket

_GRID = 1000  # KDE evaluation points, as WeightWatcher
_BANDWIDTH = 0.1  # linear-kernel KDE bandwidth on the rescaled ESD
_DENSITY_FLOOR = 0.01  # grid points with less estimated density are ignored
_SIGMAS = 195  # coarse grid: sigma = s0 * (0.05, 0.06, ..., 1.99)
_REFINE = 201  # then a fine grid over one coarse step either side of the best


class MarchenkoPasturFit(NamedTuple):
    sigma_mp: float
    bulk_min: float  # in the ESD's own units
    bulk_max: float  # λ+ : the bulk edge
    num_spikes: int  # eigenvalues beyond λ+ plus the Tracy-Widom margin
    mp_softrank: float  # λ+ / λmax, on the rescaled ESD


def _mp_density(x, q, sigma):
    b = (sigma * (1 + jnp.sqrt(1 / q))) ** 2
    a = (sigma * (1 - jnp.sqrt(1 / q))) ** 2
    inside = (x > a) & (x < b)
    safe = jnp.where(inside, x, 1.0)
    val = jnp.sqrt(jnp.where(inside, (b - safe) * (safe - a), 0.0)) / (2 * jnp.pi * sigma**2 * safe / q)
    return jnp.where(inside, val, 0.0), a, b


def _qc_density(x, sigma):
    # WeightWatcher's quarter-circle law on singular values (sigma scales the height only).
    return jnp.where(x <= 2, jnp.sqrt(jnp.maximum(4 - x * x, 0.0)) / (jnp.pi * sigma**2), 0.0)


@functools.partial(jax.jit, static_argnames="quarter")
def _mp_kernel(evals: jax.Array, n: jax.Array, q: jax.Array, m: jax.Array, quarter: bool):
    valid = jnp.arange(evals.shape[0]) < n
    ev = jnp.where(valid, evals.astype(jnp.float32), 0.0)
    nf = n.astype(jnp.float32)
    scale = nf / jnp.sum(ev)  # rescale so that the mean eigenvalue is 1
    lam = ev * scale
    lam_max = jnp.max(lam)
    data = jnp.sqrt(lam) if quarter else lam
    s0 = jnp.sqrt(lam_max / (1 + 1 / jnp.sqrt(q)) ** 2)
    grid = jnp.linspace(0.0, jnp.max(data) + 0.5, _GRID)
    kernel = jnp.maximum(0.0, 1 - jnp.abs(grid[:, None] - data[None, :]) / _BANDWIDTH)
    density = jnp.sum(jnp.where(valid[None, :], kernel, 0.0), axis=1) / (nf * _BANDWIDTH)
    good = density > _DENSITY_FLOOR
    peak = grid[jnp.argmax(jnp.where(good, density, -1.0))]
    top = jnp.max(jnp.where(good, grid, -jnp.inf))
    n_good = jnp.sum(good)

    def loss(sigma):
        if quarter:
            fit = _qc_density(grid, sigma)
            bad = False
        else:
            fit, a, b = _mp_density(grid, q, sigma)
            bad = (b < peak) | (b > top) | (a > peak)
        sse = jnp.sum(jnp.where(good, (fit - density) ** 2, 0.0))
        return jnp.where(bad, 1e6 * n_good, sse)  # WeightWatcher's residual of 1000 per point

    step = 0.01 * s0
    coarse = s0 * (0.05 + 0.01 * jnp.arange(_SIGMAS))
    best = coarse[jnp.argmin(jax.vmap(loss)(coarse))]
    fine = best + jnp.linspace(-step, step, _REFINE)
    fine = jnp.where(fine > 0, fine, best)
    s1 = fine[jnp.argmin(jax.vmap(loss)(fine))]
    bulk_max = (s1 * (1 + 1 / jnp.sqrt(q))) ** 2
    bulk_min = (s1 * (1 - 1 / jnp.sqrt(q))) ** 2
    tracy_widom = 1 / jnp.sqrt(q) * bulk_max ** (2 / 3) * m.astype(jnp.float32) ** (-2 / 3)
    spikes = jnp.sum(valid & (lam > bulk_max + jnp.sqrt(tracy_widom)))
    return s1, bulk_min / scale, bulk_max / scale, spikes, bulk_max / lam_max



def fit_marchenko_pastur(evals: np.ndarray, n_rows: int, m_cols: int) -> MarchenkoPasturFit | None:
    """Fit the MP law with aspect ratio Q = N/M to the ESD; None for an all-zero spectrum."""
    evals = np.asarray(evals, np.float64)
    if evals.size == 0 or not evals.max() > 0:
        return None
    q = n_rows / m_cols
    padded = np.zeros(bucket(evals.size), np.float32)
    padded[: evals.size] = evals
    s1, lo, hi, spikes, soft = jax.device_get(_mp_kernel(
        padded, np.int32(evals.size), np.float32(q), np.int32(m_cols), quarter=bool(q == 1.0)))
    return MarchenkoPasturFit(sigma_mp=float(s1), bulk_min=float(lo), bulk_max=float(hi),
                              num_spikes=int(spikes), mp_softrank=float(soft))
