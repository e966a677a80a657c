"""Spectral diagnostics of one kernel: its ESD, norm metrics, power-law and Marchenko-Pastur fits."""
from __future__ import annotations

import math

import numpy as np

from ..types import Histogram, Layout, Role, Spectral
from .esd import eigenvalues, matrices
from .mp import fit_marchenko_pastur
from .powerlaw import fit_power_law

ESD_BINS = 60
_EPSILON = 1e-10  # WeightWatcher's entropy regulariser


def norm_metrics(evals: np.ndarray, n_rows: int) -> dict[str, float]:
    """WeightWatcher's apply_norm_metrics, in float64 on the (small) eigenvalue vector.

    One difference: the rank tolerance σmax·N·eps uses float32's eps, the precision the
    eigenvalues were computed in; float64's would count float32 round-off as rank.
    """
    norm = float(np.sum(evals))
    lam_max = float(np.max(evals))
    sv = np.sqrt(evals)
    rank = int(np.count_nonzero(sv > sv.max() * n_rows * np.finfo(np.float32).eps))
    p = evals / norm + _EPSILON
    entropy = float(-np.sum(p * np.log(p)) / np.log(rank + _EPSILON)) if rank > 1 else 0.0
    return dict(norm=norm, log_norm=math.log10(norm), spectral_norm=lam_max,
                log_spectral_norm=math.log10(lam_max), stable_rank=norm / lam_max,
                matrix_rank=rank, entropy=entropy)


def esd_histogram(evals: np.ndarray) -> Histogram:
    """Counts in log-spaced bins from the smallest positive eigenvalue to λmax."""
    pos = evals[evals > 0]
    lo, hi = float(pos.min()), float(pos.max())
    if hi <= lo * (1 + 1e-9):
        lo, hi = lo / 1.5, hi * 1.5
    edges = np.geomspace(lo, hi, ESD_BINS + 1)
    counts, _ = np.histogram(pos, bins=edges)
    return Histogram(edges=tuple(float(e) for e in edges), counts=tuple(int(c) for c in counts))


def _log_alpha_norm(evals: np.ndarray, alpha: float) -> float:
    pos = evals[evals > 0]  # 0^alpha adds nothing; logs of sums avoid float overflow
    return float(np.logaddexp.reduce(alpha * np.log(pos)) / math.log(10))


def tensor_spectral(array: np.ndarray, role: Role, layout: Layout, min_evals: int,
                    max_evals: int) -> Spectral | str:
    """The Spectral record of one kernel, or the reason it is not analysed."""
    mats = matrices(array, role, layout)
    if mats is None:
        return "no matrix view"
    count = mats.m * mats.slices.shape[0]
    if count < min_evals:
        return f"{count} eigenvalue{'s' * (count != 1)}, fewer than spectral_min_evals = {min_evals}"
    if max_evals and count > max_evals:
        return f"{count:,} eigenvalues, more than spectral_max_evals = {max_evals:,}"
    if not np.isfinite(mats.slices).all():
        return "the tensor has NaN or Inf values"
    evals, method = eigenvalues(mats)
    if not evals.max() > 0:
        return "every eigenvalue is 0 (an all-zero kernel)"
    norms = norm_metrics(evals, mats.n)
    fit = fit_power_law(evals)
    mp = fit_marchenko_pastur(evals, mats.n, mats.m)
    nan = float("nan")
    if fit is None:
        pl = dict(alpha=nan, alpha_weighted=nan, log_alpha_norm=nan, xmin=nan, xmax=nan, D=nan,
                  sigma=nan, num_pl_spikes=0)
        note = "power-law fit not possible: fewer than 2 eigenvalues above 1e-5"
    else:
        pl = dict(alpha=fit.alpha, alpha_weighted=fit.alpha * norms["log_spectral_norm"],
                  log_alpha_norm=_log_alpha_norm(evals, fit.alpha), xmin=fit.xmin, xmax=fit.xmax,
                  D=fit.D, sigma=fit.sigma, num_pl_spikes=fit.num_pl_spikes)
        note = f"small-sample fit ({fit.num_pl_spikes} eigenvalues in the tail)" if fit.small_n else ""
    return Spectral(
        n_rows=mats.n, n_cols=mats.m, n_slices=mats.slices.shape[0], num_evals=int(evals.size),
        method=method, **norms, **pl, sigma_mp=mp.sigma_mp, bulk_min=mp.bulk_min,
        bulk_max=mp.bulk_max, num_spikes=mp.num_spikes, mp_softrank=mp.mp_softrank,
        esd=esd_histogram(evals), fit_note=note)
