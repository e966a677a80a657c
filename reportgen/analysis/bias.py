"""Bias numbers: group outcome rates, counterfactual flips, group-separating units, dense-chain weights."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..types import GroupRates


def group_rates(positive: np.ndarray, labels_positive: np.ndarray | None, groups: np.ndarray) -> tuple[GroupRates, ...]:
    """Per group (sorted): positive-prediction rate, accuracy, TPR and FPR (NaN without labels)."""
    out = []
    for g in np.unique(groups):
        m = groups == g
        p = positive[m]
        if labels_positive is None:
            acc = tpr = fpr = float("nan")
        else:
            y = labels_positive[m]
            acc = float(np.mean(p == y))
            tpr = float(p[y].mean()) if y.any() else float("nan")
            fpr = float(p[~y].mean()) if (~y).any() else float("nan")
        out.append(GroupRates(group=str(g), n=int(m.sum()), positive_rate=float(p.mean()), accuracy=acc,
                              tpr=tpr, fpr=fpr))
    return tuple(out)


def gaps(rates: tuple[GroupRates, ...]) -> tuple[float, float]:
    """Demographic parity difference and equalised-odds difference (max of the TPR and FPR ranges)."""
    spread = lambda v: float(np.nanmax(v) - np.nanmin(v)) if np.isfinite(v).any() else float("nan")  # noqa: E731
    parity = spread(np.array([r.positive_rate for r in rates]))
    odds = max(spread(np.array([r.tpr for r in rates])), spread(np.array([r.fpr for r in rates])))
    return parity, odds


def counterfactual(x: np.ndarray, j: int, seed: int) -> tuple[np.ndarray, str]:
    """x with feature j flipped (a two-valued feature: its values swapped) or permuted across rows."""
    out = x.copy()
    values = np.unique(x[:, j])
    if len(values) == 2:
        out[:, j] = np.where(x[:, j] == values[0], values[1], values[0])
        return out, "flip"
    out[:, j] = np.random.default_rng(seed).permutation(x[:, j])
    return out, "permute"


def flatten_activations(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Flax capture_intermediates output -> {layer path: [examples, units]} for 2-D activations."""
    out: dict[str, np.ndarray] = {}
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            name = prefix if key == "__call__" else (f"{prefix}/{key}" if prefix else str(key))
            out.update(flatten_activations(value, name))
    elif isinstance(tree, (tuple, list)):
        for value in tree:
            out.update(flatten_activations(value, prefix))
    elif hasattr(tree, "shape") and len(tree.shape) == 2 and prefix:
        out.setdefault(prefix, np.asarray(tree, np.float64))
    return out


def effect_sizes(acts: np.ndarray, in_group: np.ndarray) -> np.ndarray:
    """Standardised mean difference per unit: (mean in group − mean rest) / pooled std (0 if constant)."""
    a, b = acts[in_group], acts[~in_group]
    pooled = np.sqrt(((len(a) - 1) * a.var(0, ddof=1) + (len(b) - 1) * b.var(0, ddof=1)) / max(len(a) + len(b) - 2, 1))
    return np.where(pooled > 0, (a.mean(0) - b.mean(0)) / np.where(pooled > 0, pooled, 1), 0.0)


def dense_chain(params: Any) -> list[str] | None:
    """Layer names of a pure Dense stack in params order ({name: {kernel (in, out), bias}}), or None."""
    if not isinstance(params, Mapping) or not params:
        return None
    names = list(params)
    for name in names:
        layer = params[name]
        if not (isinstance(layer, Mapping) and "kernel" in layer and np.ndim(layer["kernel"]) == 2):
            return None
    shapes = [np.shape(params[n]["kernel"]) for n in names]
    return names if all(a[1] == b[0] for a, b in zip(shapes, shapes[1:])) else None


def chain_product(params: Mapping, names: list[str]) -> np.ndarray:
    """K_first @ ... @ K_last: the stack's linear map with every non-linearity replaced by identity."""
    out = np.asarray(params[names[0]]["kernel"], np.float64)
    for name in names[1:]:
        out = out @ np.asarray(params[name]["kernel"], np.float64)
    return out


def ablate(params: Mapping, layer: str, unit: int) -> dict:
    """A copy of params with one Dense unit's incoming weights and bias zeroed (it then outputs 0)."""
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in params.items()}
    kernel = np.array(out[layer]["kernel"], copy=True)
    kernel[:, unit] = 0
    out[layer]["kernel"] = kernel
    if "bias" in out[layer]:
        bias = np.array(out[layer]["bias"], copy=True)
        bias[unit] = 0
        out[layer]["bias"] = bias
    return out
