"""Alerts: named, severity-ranked findings derived from the per-tensor analyses."""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

import numpy as np

from ..config import Config
from ..types import Alert, BiasAudit, TensorAnalysis, Training

SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
_KERNEL_ROLES = ("dense", "conv", "embedding")


def _spectral_alerts(t: TensorAnalysis, config: Config) -> list[Alert]:
    sp = t.spectral
    if sp is None or not math.isfinite(sp.alpha):
        return []
    where = f"alpha = {sp.alpha:.2f} (D = {sp.D:.3f}, {sp.num_pl_spikes} eigenvalues in the tail)"
    if sp.alpha < config.alpha_low:
        return [Alert("over_trained", t.name, "warning", f"{where}, below {config.alpha_low:g}.")]
    if sp.alpha > config.alpha_high:
        return [Alert("under_trained", t.name, "warning", f"{where}, above {config.alpha_high:g}.")]
    return []


def _tensor_alerts(t: TensorAnalysis, config: Config) -> list[Alert]:
    out = [Alert("analysis_error", t.name, "error", e) for e in t.errors] + _spectral_alerts(t, config)
    s = t.stats
    if s is None:
        return out
    if s.nan_count or s.inf_count:
        out.append(Alert("non_finite", t.name, "error", f"{s.nan_count:,} NaN and {s.inf_count:,} Inf values."))
    finite = t.n_params - s.nan_count - s.inf_count
    if t.role in _KERNEL_ROLES and finite > 1:
        if s.max == s.min == 0:
            out.append(Alert("all_zero", t.name, "error", "every weight is exactly 0."))
        elif s.max == s.min:
            out.append(Alert("constant", t.name, "error", f"every weight equals {s.mean:g}."))
    peak = max(abs(s.min), abs(s.max)) if finite else 0.0
    if math.isfinite(peak) and peak > config.extreme_abs:
        out.append(Alert("extreme_magnitude", t.name, "warning",
                         f"max |w| = {peak:.4g}, above {config.extreme_abs:g}."))
    u = t.units
    if u is not None and s.max != s.min:
        severity = "info" if t.role == "embedding" else "warning"
        what = "rows" if t.role == "embedding" else "units"
        if u.dead:
            shown = ", ".join(str(i) for i in u.dead[:8]) + (" …" if len(u.dead) > 8 else "")
            out.append(Alert("dead_units", t.name, severity,
                             f"{len(u.dead)} of {u.n_units} {what} {'has' if len(u.dead) == 1 else 'have'} all "
                             f"incoming weights ~0 ({shown})."))
        if u.duplicates:
            i, j, c = u.duplicates[0]
            sampled = "" if u.duplicates_checked == u.n_units else f" among {u.duplicates_checked} sampled {what}"
            out.append(Alert("duplicate_units", t.name, severity,
                             f"{len(u.duplicates)}{'+' if len(u.duplicates) == 64 else ''} "
                             f"pair{'' if len(u.duplicates) == 1 else 's'} of {what} "
                             f"with cosine > {config.duplicate_cos}{sampled}; e.g. {i} and {j} ({c:.4f})."))
    return out


def _norm_outliers(tensors: Sequence[TensorAnalysis], config: Config) -> list[Alert]:
    """Robust z-score of log10(rms) within each role: rms, unlike ‖W‖F, does not grow with size."""
    by_role: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for t in tensors:
        if t.stats is not None and t.stats.rms > 0 and math.isfinite(t.stats.rms):
            by_role[t.role].append((t.name, math.log10(t.stats.rms)))
    out = []
    for role, items in by_role.items():
        if len(items) < 4 or role == "other":
            continue
        values = np.array([v for _, v in items])
        median = float(np.median(values))
        mad = max(float(np.median(np.abs(values - median))), config.norm_mad_floor)
        for name, v in items:
            z = 0.6745 * (v - median) / mad
            if abs(z) > config.norm_z:
                out.append(Alert("norm_outlier", name, "warning",
                                 f"rms {10 ** v:.3g} is {10 ** (v - median):.3g}x the median of the "
                                 f"{len(items)} {role} tensors (robust z = {z:+.1f})."))
    return out


def bias_alerts(audit: BiasAudit | None, config: Config) -> list[Alert]:
    """One warning per sensitive feature that is both a top-3 driver and flips predictions."""
    if audit is None:
        return []
    out = []
    for name, rank, flip in zip(audit.sensitive, audit.sensitive_rank, audit.flip_rate):
        if name in audit.flagged:
            share = audit.attribution_share[audit.feature_names.index(name)]
            out.append(Alert(kind="sensitive_feature", tensor=None, severity="warning", message=(
                f"'{name}' ranks #{rank} of {len(audit.feature_names)} features by attribution share "
                f"({share:.1%}); flipping it changes {flip:.1%} of predictions (threshold "
                f"{config.bias_flip_threshold:.0%}); positive-rate gap between groups {audit.parity_gap:.1%}.")))
    return out


def model_alerts(tensors: Sequence[TensorAnalysis], config: Config | None = None,
                 audit: BiasAudit | None = None, training: Training | None = None) -> tuple[Alert, ...]:
    from .training import training_alerts

    config = config or Config()
    alerts = ([a for t in tensors for a in _tensor_alerts(t, config)] + _norm_outliers(tensors, config)
              + bias_alerts(audit, config))
    if training is not None:
        alerts += training_alerts(training, config.vanishing_grad_rel, config.exploding_grad_growth,
                                  config.stalled_update_ratio)
    return tuple(sorted(alerts, key=lambda a: SEVERITY_RANK[a.severity]))
