"""Checkpoint diff: per tensor, how far B moved from A, in which directions, and what it did to the spectrum."""
from __future__ import annotations

import numpy as np

from ..types import TensorDiff
from .units import unit_matrix
from .views import heatmap

RANK_TOL = 1e-3  # singular values of ΔW below this fraction of the largest count as zero
ENERGY = 0.9  # energy_rank: directions holding this share of ‖ΔW‖F²


def delta_singular_values(d: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Singular values of a matrix from the eigenvalues of its smaller Gram matrix, accumulated
    in float64 over row blocks (a float32 Gram would blur singular values below ~3e-4 of the
    largest into noise, too close to RANK_TOL; float64 of a whole embedding would double memory)."""
    d = d if d.shape[0] >= d.shape[1] else d.T  # tall: the Gram matrix is the short side squared
    gram = np.zeros((d.shape[1], d.shape[1]), np.float64)
    for start in range(0, d.shape[0], chunk):
        block = np.asarray(d[start:start + chunk], np.float64)
        gram += block.T @ block
    return np.sqrt(np.clip(np.linalg.eigvalsh(gram)[::-1], 0, None))


def ranks(sv: np.ndarray) -> tuple[int, int]:
    """(delta_rank, energy_rank) of ΔW from its singular values (descending)."""
    if sv.size == 0 or sv[0] == 0:
        return 0, 0
    energy = np.cumsum(sv ** 2) / np.sum(sv ** 2)
    return int(np.sum(sv > RANK_TOL * sv[0])), int(np.searchsorted(energy, ENERGY) + 1)


def _dot64(x: np.ndarray, y: np.ndarray, chunk: int = 1 << 22) -> float:
    """<x, y> accumulated in float64, a block at a time (no float64 copy of a whole tensor)."""
    x, y = x.reshape(-1), y.reshape(-1)
    return float(sum(np.dot(x[i:i + chunk].astype(np.float64), y[i:i + chunk].astype(np.float64))
                     for i in range(0, x.size, chunk)))


def tensor_diff(name: str, before: np.ndarray, after: np.ndarray, role: str, layout: str, max_cells: int,
                spectral_before=None, spectral_after=None) -> TensorDiff:
    a32, b32 = np.asarray(before, np.float32), np.asarray(after, np.float32)
    delta = b32 - a32  # exact for nearby values (Sterbenz); the rank tolerance absorbs the rest
    na, nb, nd = (np.sqrt(_dot64(x, x)) for x in (a32, b32, delta))
    dot = _dot64(a32, b32)
    m = unit_matrix(delta, role, layout)
    delta_rank = energy_rank = None
    hm = None
    if m is not None and m.ndim == 2 and min(m.shape) > 1:
        delta_rank, energy_rank = ranks(delta_singular_values(m))
        hm = heatmap(m, max_cells, coarser_levels=0)
    pick = lambda s, f: None if s is None else float(getattr(s, f))  # noqa: E731
    return TensorDiff(
        name=name, shape=tuple(after.shape),
        rel_change=nd / na if na > 0 else (float("inf") if nd > 0 else 0.0),
        cosine=dot / (na * nb) if na > 0 and nb > 0 else float("nan"),
        max_abs_change=float(np.abs(delta).max()) if delta.size else 0.0,
        delta_rank=delta_rank, energy_rank=energy_rank,
        alpha_before=pick(spectral_before, "alpha"), alpha_after=pick(spectral_after, "alpha"),
        log_norm_before=pick(spectral_before, "log_norm"), log_norm_after=pick(spectral_after, "log_norm"),
        heatmap=hm)
