"""Power-law tail fit of an ESD (WeightWatcher 0.7.7's WWFit): MLE alpha, xmin by minimum KS distance."""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .stats import bucket

EVALS_THRESH = 1e-5  # WeightWatcher fits only eigenvalues above this
SMALL_N = 20  # below this many, WeightWatcher switches to its small-sample estimator
SMALL_N_MIN_TAIL = 8
_BLOCK = 256  # candidate xmins per step: memory stays at _BLOCK x n, not n x n


class PowerLawFit(NamedTuple):
    alpha: float
    xmin: float
    xmax: float
    D: float  # KS distance between the tail and the fitted power law
    sigma: float  # (alpha - 1) / sqrt(n_tail), the MLE's standard error
    num_pl_spikes: int  # eigenvalues >= xmin
    small_n: bool  # fitted with the small-sample estimator



@functools.partial(jax.jit, static_argnames="small")
def _fit_kernel(x: jax.Array, n: jax.Array, small: bool) -> tuple[jax.Array, ...]:
    """Every candidate xmin at once: x ascending, valid in [0, n), padding repeats x[n-1].

    For candidate i the tail is x[i:n] (size k = n - i):
      alpha_i = 1 + k / Σ log(x_j / x_i)            (small: 1 + (k - 1) / Σ ...)
      D_i     = max_j |1 - (x_j / x_i)^(1 - alpha_i) - (j - i) / k|
    The sums run over non-negative log-ratios, so float32 loses nothing to cancellation.
    """
    size = x.shape[0]
    logx = jnp.log(x.astype(jnp.float32))
    pos = jnp.arange(size)
    tail = (n - pos).astype(jnp.float32)

    def block(start):
        i = start + jnp.arange(_BLOCK)
        d = logx[None, :] - logx[i][:, None]
        inside = (pos[None, :] >= i[:, None]) & (pos[None, :] < n)
        d = jnp.where(inside, d, 0.0)
        s = jnp.sum(d, axis=1)
        k = tail[i]
        alpha = 1.0 + (k - 1.0 if small else k) / jnp.where(s > 0, s, 1.0)
        alpha = jnp.where(s > 0, alpha, jnp.inf)
        cdf_fit = 1.0 - jnp.exp((1.0 - alpha)[:, None] * d)
        cdf_emp = (pos[None, :] - i[:, None]) / k[:, None]
        D = jnp.max(jnp.where(inside, jnp.abs(cdf_fit - cdf_emp), 0.0), axis=1)
        return alpha, D, s

    starts = jnp.arange(0, size, _BLOCK)
    alpha, D, s = (v.reshape(-1)[:size] for v in jax.lax.map(block, starts))
    candidate = pos < n - 1
    if small:
        ok = candidate & (tail >= SMALL_N_MIN_TAIL) & (s > 1e-12) & (alpha > 1.0)
        score = jnp.where(ok, D - 0.868 / jnp.sqrt(tail), jnp.inf)
        best = jnp.where(jnp.any(ok), jnp.argmin(score), 0)
    else:
        # Degenerate tails (all equal, s = 0) lose: WeightWatcher would divide by zero there.
        ok = candidate & (s > 0)
        best = jnp.argmin(jnp.where(ok, D, jnp.inf))
    xmin = x[best]
    spikes = jnp.sum((x >= xmin) & (pos < n))
    sigma = (alpha[best] - 1.0) / jnp.sqrt(tail[best])
    return alpha[best], xmin, x[n - 1], D[best], sigma, spikes


def fit_power_law(evals: np.ndarray) -> PowerLawFit | None:
    """Fit the tail of an ascending ESD; None when fewer than two eigenvalues exceed EVALS_THRESH."""
    data = np.asarray(evals, np.float64)
    data = data[data > EVALS_THRESH]
    n = data.size
    if n < 2:
        return None
    size = bucket(n)
    x = np.full(size, data[-1], np.float32)
    x[:n] = data
    small = n < SMALL_N
    alpha, xmin, xmax, D, sigma, spikes = jax.device_get(_fit_kernel(x, np.int32(n), small))
    return PowerLawFit(alpha=float(alpha), xmin=float(xmin), xmax=float(xmax), D=float(D),
                       sigma=float(sigma), num_pl_spikes=int(spikes), small_n=small)
