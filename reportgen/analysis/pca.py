"""PCA, exact k-nearest neighbours and silhouettes of unit vectors, jit-compiled."""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .stats import bucket

COMPONENTS = 50  # kept per layer: the scree plot and the input of UMAP/t-SNE
EXACT_SIDE = 1536  # eigh of the smaller Gram matrix up to this side; subspace iteration above
_HI = jax.lax.Precision.HIGHEST


class Pca(NamedTuple):
    explained_variance_ratio: np.ndarray  # [k] of all units, largest first
    components: np.ndarray  # [fan_in, k] unit-norm directions
    mean: np.ndarray  # [fan_in]


def _pad(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols), np.float32)
    out[: x.shape[0], : x.shape[1]] = x
    return out


def _centre(x, n_valid):
    """Centre the valid rows (padding rows stay zero); also the mean and the total variance·n."""
    valid = (jnp.arange(x.shape[0]) < n_valid)[:, None]
    mean = jnp.sum(jnp.where(valid, x, 0.0), axis=0) / n_valid
    xc = jnp.where(valid, x - mean, 0.0)
    return xc, mean, jnp.sum(xc * xc)


@functools.partial(jax.jit, static_argnames=("k", "side"))
def _pca_kernel(x, n_valid, k: int, side: str):
    """Top-k principal directions of the valid rows of a zero-padded matrix.

    side="cols": eigh of the (cols x cols) covariance; "rows": of the (rows x rows) Gram
    matrix, directions recovered as Xcᵀu/σ. Zero padding adds only zero-variance directions.
    """
    xc, mean, total = _centre(x, n_valid)
    if side == "cols":
        w, v = jnp.linalg.eigh(jnp.matmul(xc.T, xc, precision=_HI))
        w, v = w[::-1][:k], v[:, ::-1][:, :k]
    else:
        w, u = jnp.linalg.eigh(jnp.matmul(xc, xc.T, precision=_HI))
        w, u = w[::-1][:k], u[:, ::-1][:, :k]
        real = w > 1e-12 * w[0]  # beyond the rank, u spans nothing and has no direction
        v = jnp.where(real, jnp.matmul(xc.T, u, precision=_HI) / jnp.sqrt(jnp.where(real, w, 1.0)), 0.0)
    return jnp.maximum(w, 0.0) / total, v, mean


@functools.partial(jax.jit, static_argnames=("k", "iterations"))
def _pca_subspace(x, n_valid, key, k: int, iterations: int = 8):
    """Randomised subspace iteration (Halko et al.) for matrices too big for an exact eigh."""
    xc, mean, total = _centre(x, n_valid)
    q = jnp.linalg.qr(jnp.matmul(xc, jax.random.normal(key, (x.shape[1], 2 * k)), precision=_HI))[0]
    for _ in range(iterations):
        q = jnp.linalg.qr(jnp.matmul(xc, jnp.matmul(xc.T, q, precision=_HI), precision=_HI))[0]
    _, s, vt = jnp.linalg.svd(jnp.matmul(q.T, xc, precision=_HI), full_matrices=False)
    return (s[:k] ** 2) / total, vt[:k].T, mean


def pca(m: np.ndarray) -> Pca | None:
    """PCA of the rows of m (units x fan_in); None when every row is the same (no variance)."""
    n, d = m.shape
    k = min(COMPONENTS, n, d)
    rows, cols = bucket(n), bucket(d)  # >= 256 > COMPONENTS: one compile per bucket, not per k
    x = _pad(np.asarray(m, np.float32), rows, cols)
    if min(n, d) <= EXACT_SIDE:
        out = _pca_kernel(x, np.float32(n), k=COMPONENTS, side="cols" if d <= n else "rows")
    else:
        out = _pca_subspace(x, np.float32(n), jax.random.key(0), k=COMPONENTS)
    evr, comps, mean = (np.asarray(a) for a in jax.device_get(out))
    if not np.isfinite(evr).all():
        return None
    evr, comps = evr[:k], comps[:, :k]
    # A direction's sign is arbitrary: fix it so that its largest loading is positive.
    comps = comps[:d] * np.sign(comps[:d][np.argmax(np.abs(comps[:d]), axis=0), np.arange(k)])
    return Pca(explained_variance_ratio=evr.astype(np.float64), components=comps, mean=mean[:d])


@jax.jit
def _project_kernel(x, mean, comps):
    return jnp.matmul(x - mean, comps, precision=_HI)


def project(m: np.ndarray, p: Pca) -> np.ndarray:
    return np.asarray(_project_kernel(np.asarray(m, np.float32), p.mean, p.components))


@functools.partial(jax.jit, static_argnames="k")
def _knn_kernel(x, n_valid, k: int):
    sq = jnp.sum(x * x, axis=1)
    d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2 * jnp.matmul(x, x.T, precision=_HI), 0.0)
    pad = jnp.arange(x.shape[0]) >= n_valid
    d2 = jnp.where(pad[None, :], jnp.inf, d2)
    d2 = jnp.where(jnp.eye(x.shape[0], dtype=bool), 0.0, d2)  # each point is its own first neighbour
    neg, idx = jax.lax.top_k(-d2, k)
    return idx, jnp.sqrt(-neg)


def nearest_neighbours(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (self first), in UMAP's precomputed_knn format."""
    n = x.shape[0]
    idx, dist = jax.device_get(_knn_kernel(_pad(x, bucket(n), x.shape[1]), np.int32(n), k=k))
    return np.array(idx[:n], np.int32), np.array(dist[:n], np.float32)  # umap writes into them


@jax.jit
def _silhouette_kernel(x, labels, n_valid):
    """Mean silhouette for each labelling in `labels` [cuts, n] (labels < 0: padding)."""
    sq = jnp.sum(x * x, axis=1)
    d = jnp.sqrt(jnp.maximum(sq[:, None] + sq[None, :] - 2 * jnp.matmul(x, x.T, precision=_HI), 0.0))
    valid = jnp.arange(x.shape[0]) < n_valid

    def one(lab):
        onehot = jax.nn.one_hot(jnp.where(valid, lab, -1), 16)  # padding rows are all zero
        sums = jnp.matmul(d, onehot, precision=_HI)
        sizes = jnp.sum(onehot, axis=0)
        own = jnp.sum(onehot * sums, axis=1)
        own_size = jnp.sum(onehot * sizes, axis=1)
        a = own / jnp.maximum(own_size - 1, 1)
        other = jnp.where((onehot > 0) | (sizes[None, :] == 0), jnp.inf, sums / jnp.maximum(sizes, 1))
        b = jnp.min(other, axis=1)
        s = jnp.where(own_size > 1, (b - a) / jnp.maximum(jnp.maximum(a, b), 1e-30), 0.0)
        return jnp.sum(jnp.where(valid, s, 0.0)) / n_valid

    return jax.vmap(one)(labels)


def silhouettes(x: np.ndarray, labellings: np.ndarray) -> np.ndarray:
    """Mean silhouette (Rousseeuw 1987; sklearn's definition) of each row of labellings (< 16 clusters)."""
    n = x.shape[0]
    rows = bucket(n)
    labels = np.full((labellings.shape[0], rows), -1, np.int32)
    labels[:, :n] = labellings
    return np.asarray(_silhouette_kernel(_pad(x, rows, x.shape[1]), labels, np.float32(n)))
