"""The empirical spectral density: eigenvalues of WᵀW for dense, embedding and conv kernels."""
from __future__ import annotations

import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..types import Layout, Role
from .units import conv_oi, unit_matrix

Method = Literal["svd", "gram"]
# Gram + eigh beats a values-only SVD once W is about 2.5x taller than wide (measured on
# 2-core CPUs: 1536x384 gram 20 ms vs svd 27 ms; 512x384 svd 15 ms vs gram 17 ms).
GRAM_ASPECT = 2.5
# float32 Gram eigenvalues carry an absolute error of about eps·sqrt(N)·λmax; below this
# fraction of λmax they are no longer accurate to 1e-3, and the SVD path is taken instead.
GRAM_FLOOR = 1e-3
# WeightWatcher 0.7.7 scales every pooled conv slice by sqrt(conv2d_count / 2) with
# conv2d_count = 1 (apply_normalize_Wmats): each slice's eigenvalues are halved.
CONV_SLICE_SCALE = float(np.sqrt(0.5))


class Matrices(NamedTuple):
    """The matrices whose pooled eigenvalues form one tensor's ESD, each N x M with N >= M."""

    slices: np.ndarray  # float32 [S, N, M]
    n: int  # N, the long side
    m: int  # M, the short side: each slice has M eigenvalues
    scale: float  # applied to every slice before its eigenvalues are taken


def matrices(array: np.ndarray, role: Role, layout: Layout) -> Matrices | None:
    """Dense and embedding kernels as one matrix; conv kernels as kh·kw (out x in) slices."""
    if role == "conv" and array.ndim >= 3:
        oi = conv_oi(array, layout)
        out, inp = oi.shape[:2]
        slices = np.moveaxis(oi.reshape(out, inp, -1), -1, 0)  # [kh·kw, out, in]
        scale = CONV_SLICE_SCALE
    else:
        m = unit_matrix(array, role, layout)
        if m is None:
            return None
        slices, scale = m[None], 1.0
    if slices.shape[1] < slices.shape[2]:
        slices = np.swapaxes(slices, 1, 2)
    s, n, m = slices.shape
    return Matrices(slices=slices, n=n, m=m, scale=scale)


def _pad_to(size: int) -> int:
    """Round a side up so that nearby shapes share one compiled kernel (zeros add zero eigenvalues).

    Sides over 4,096 (vocabularies) stay as they are: padding would copy the whole table
    again, and a model rarely has more than a few such shapes.
    """
    if size > 4096:
        return size
    step = 8 if size <= 64 else 64
    return -(-size // step) * step


@functools.partial(jax.jit, static_argnames="method")
def _eig_kernel(w: jax.Array, scale: jax.Array, method: Method) -> jax.Array:
    """Eigenvalues of (scale·W)ᵀ(scale·W) per slice, ascending; zero-padded slices add zeros."""
    w = w.astype(jnp.float32) * scale
    if method == "svd":
        # Values only (LAPACK gesdd, jobz='N'): relative error of λ = σ² is about
        # 2·eps·σmax/σ, so small eigenvalues stay accurate.
        sv = jnp.linalg.svd(w, compute_uv=False)  # descending
        return jnp.flip(sv * sv, axis=-1)
    g = jnp.einsum("snm,snk->smk", w, w, precision=jax.lax.Precision.HIGHEST)
    return jnp.maximum(jnp.linalg.eigvalsh(g), 0.0)  # ascending


def choose_method(n: int, m: int) -> Method:
    return "gram" if n >= GRAM_ASPECT * m else "svd"


def eigenvalues(mats: Matrices) -> tuple[np.ndarray, Method]:
    """The pooled ESD in float64, ascending, with the method that produced it.

    Each slice contributes its M largest eigenvalues (padding only adds exact zeros, which
    sort below them). A Gram result whose smallest eigenvalue falls under GRAM_FLOOR·λmax
    is recomputed by SVD: float32 Gram matrices cannot resolve such eigenvalues.
    """
    s, n, m = mats.slices.shape
    if (_pad_to(n), _pad_to(m)) == (n, m) and mats.slices.dtype == np.float32:
        padded = mats.slices
    else:
        padded = np.zeros((s, _pad_to(n), _pad_to(m)), np.float32)
        padded[:, :n, :m] = mats.slices
    method = choose_method(n, m)
    scale = np.float32(mats.scale)
    evals = np.asarray(jax.device_get(_eig_kernel(padded, scale, method)))[:, -m:]
    if method == "gram" and evals.min() < GRAM_FLOOR * evals.max():
        method = "svd"
        evals = np.asarray(jax.device_get(_eig_kernel(padded, scale, method)))[:, -m:]
    return np.sort(evals.astype(np.float64).ravel()), method
