"""The JSON sidecar: the Analysis serialized with DESIGN.md's stable key names (schema 1)."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..types import PERCENTILES, Analysis, BiasAudit, Saliency, TensorAnalysis, TensorStats

SCHEMA_VERSION = 1


def _clean(x: Any) -> Any:
    """JSON has no NaN/Inf: they become null (the counts say why)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _stats(s: TensorStats | None) -> dict | None:
    if s is None:
        return None
    d = dataclasses.asdict(s)
    d["percentiles"] = {f"p{q}": v for q, v in zip(PERCENTILES, s.percentiles)}
    d["abs_percentiles"] = {f"p{q}": v for q, v in zip(PERCENTILES, s.abs_percentiles)}
    return d


def _units(t: TensorAnalysis) -> dict | None:
    u = t.units
    if u is None:
        return None
    return {"n_units": u.n_units, "fan_in": u.fan_in, "dead": list(u.dead),
            "duplicates": [{"a": i, "b": j, "cosine": c} for i, j, c in u.duplicates],
            "duplicates_checked": u.duplicates_checked}


def _spectral(t: TensorAnalysis) -> dict | None:
    if t.spectral is None:
        return None
    d = dataclasses.asdict(t.spectral)
    esd = d.pop("esd")
    d["esd_histogram"] = {"edges": list(esd["edges"]), "counts": list(esd["counts"])}
    return d


def _neuron_map(t: TensorAnalysis) -> dict | None:
    m = t.neuron_map
    if m is None:
        return None
    return {"n_units": m.n_units, "fan_in": m.fan_in, "n_plotted": int(len(m.shown)),
            "explained_variance_ratio": list(m.explained_variance_ratio), "n_clusters": m.n_clusters,
            "silhouette": m.silhouette, "views": ["pca"] + [v for v, xy in (("umap", m.umap), ("tsne", m.tsne))
                                                          if xy is not None],
            "notes": list(m.notes)}


def _tensor(t: TensorAnalysis) -> dict:
    h = t.histogram
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "role": t.role,
            "layout": t.layout, "n_params": t.n_params, "stats": _stats(t.stats),
            "histogram": {"edges": list(h.edges), "counts": list(h.counts)} if h else None,
            "units": _units(t),
            "heatmap": ({"block_rows": t.heatmap.block_rows, "block_cols": t.heatmap.block_cols,
                         "clip": t.heatmap.clip} if t.heatmap else None),
            "spectral": _spectral(t), "spectral_skipped": t.spectral_skipped,
            "neuron_map": _neuron_map(t), "notes": list(t.notes), "errors": list(t.errors)}


SIDECAR_MAP_SIDE = 32  # per-class mean maps are block-averaged to at most this many pixels a side


def _saliency(s: Saliency | None) -> dict | None:
    if s is None:
        return None
    from .saliency_figures import block_mean

    summary = {}
    for m in s.methods:
        if s.input_kind == "tabular":
            summary[m.method] = {"mean_abs_per_feature": dict(zip(s.feature_names, m.mean_abs.tolist()))}
        elif s.input_kind == "image":
            means = block_mean(m.class_means.astype(np.float64), SIDECAR_MAP_SIDE)
            summary[m.method] = {"mean_abs_map": block_mean(m.mean_abs.astype(np.float64), SIDECAR_MAP_SIDE).tolist(),
                                 "class_mean_maps": dict(zip(s.class_names, means.tolist()))}
        else:
            summary[m.method] = {"mean_abs_per_position": m.mean_abs.tolist()}
    c = s.completeness
    return {
        "input_kind": s.input_kind, "input_shape": list(s.input_shape), "n_inputs": s.n_inputs,
        "n_examples": int(len(s.examples)), "target": s.target_mode, "methods": [m.method for m in s.methods],
        "baseline": s.baseline, "smoothgrad": {"samples": s.smoothgrad_samples, "noise": s.smoothgrad_noise},
        "accuracy": float((s.predictions == s.labels).mean()) if s.labels is not None else None,
        "summary": summary,
        "completeness": None if c is None else {
            "steps": c.steps, "tolerance": c.tolerance, "reached": c.reached,
            "ladder": [{"steps": n, "max_rel_error": e} for n, e in c.ladder],
            "max_rel_error": float(c.rel_errors.max()), "median_rel_error": float(np.median(c.rel_errors)),
            "per_example": [{"example": int(i), "rel_error": float(e), "delta_f": float(d)}
                            for i, e, d in zip(s.examples, c.rel_errors, c.delta_f)]},
        "notes": list(s.notes)}


def _bias(b: BiasAudit | None) -> dict | None:
    if b is None:
        return None
    return {
        "n_examples": b.n_examples, "positive_class": b.positive_class, "outputs": list(b.output_names),
        "groups": [dataclasses.asdict(g) for g in b.groups],
        "parity_gap": b.parity_gap, "equalised_odds_gap": b.equalised_odds_gap,
        "attribution_share": dict(zip(b.feature_names, b.attribution_share)),
        "sensitive": [{"feature": f, "rank": r, "flip_rate": fl, "counterfactual": k,
                       "expanded_weights": dict(zip(b.output_names, e))}
                      for f, r, fl, k, e in zip(b.sensitive, b.sensitive_rank, b.flip_rate, b.counterfactual, b.expanded)],
        "expanded_method": b.expanded_method,
        "input_tensor": b.input_tensor,
        "units": [dataclasses.asdict(u) for u in b.units],
        # Units whose removal (incoming weights and bias zeroed) narrows the positive-rate gap.
        "flagged_units": [{"layer": u.layer, "unit": u.unit, "tensor": u.tensor, "gap_after_ablation": u.gap_after_ablation}
                          for u in b.units if u.gap_after_ablation < b.parity_gap],
        "flagged": list(b.flagged), "notes": list(b.notes)}


def _training(t) -> dict | None:
    if t is None:
        return None
    log = t.log
    return {"source": log.source, "records": len(log.steps), "every": log.every,
            "first_step": int(log.steps[0]), "last_step": int(log.steps[-1]),
            "final_loss": float(log.loss[-1]), "metrics": {k: float(v[-1]) for k, v in log.metrics},
            "tensors": [dataclasses.asdict(d) for d in t.tensors], "notes": list(t.notes)}


def _diff(d) -> dict | None:
    if d is None:
        return None
    return {"other": d.other, "only_here": list(d.only_here), "only_there": list(d.only_there),
            "mismatched": [{"name": n, "shape": list(a), "other_shape": list(b)} for n, a, b in d.mismatched],
            "tensors": [{k: v for k, v in dataclasses.asdict(t).items() if k != "heatmap"} for t in d.tensors]}


def _importance(c) -> dict | None:
    if c is None:
        return None
    share = lambda m: (m / np.where(m.sum(axis=0) > 0, m.sum(axis=0), 1)).round(6).tolist()  # noqa: E731
    return {"classes": list(c.classes), "n_examples": list(c.n_examples), "tensors": list(c.tensors),
            "taylor": c.taylor.tolist(), "fisher": c.fisher.tolist(),
            "taylor_share": share(c.taylor), "fisher_share": share(c.fisher),
            "top_units": [{"class": c.classes[k], "tensor": n, "unit": u, "share": v} for k, n, u, v in c.top_units],
            "notes": list(c.notes)}


def _circuits(c) -> dict | None:
    if c is None:
        return None
    return {
        "layers": [dataclasses.asdict(l) for l in c.layers],
        "n_examples": c.n_examples,
        "expanded": [{"source": e.source, "target": e.target, "skipped": list(e.skipped),
                      "shape": list(e.weights.shape), "centre": None if e.centre is None else list(e.centre),
                      "offset": list(e.offset), "truncated": e.truncated,
                      "top_connections": [{"unit": int(u), "sources": [{"unit": int(s), "l2": float(n)}
                                                                       for s, n in zip(rank, norms)]}
                                          for u, (rank, norms) in enumerate(zip(e.ranked, e.norms))],
                      "shown": e.shown.tolist()}
                     for e in c.expanded],
        "chosen": list(c.chosen),
        "top_examples": {x.layer: x.examples.tolist() for x in c.contexts},
        "factors": [{"source": f.source, "target": f.target, "explained": f.explained,
                     "factors": f.factors.round(6).tolist()} for f in c.factors],
        "activation_max": [{"layer": a.layer, "units": a.units.tolist(), "activation": a.activation.tolist(),
                            "best_example_activation": a.top_example.tolist()} for a in c.actmax],
        "notes": list(c.notes)}


def analysis_to_dict(a: Analysis, timings: bool = False) -> dict:
    """The sidecar; `timings` adds the wall times (otherwise null, so equal inputs give equal files)."""
    m = a.model
    return _clean({
        "schema_version": SCHEMA_VERSION,
        "reportgen_version": a.reportgen_version,
        "model": {"source": m.source, "sha256": m.sha256, "format": m.format, "layout": m.layout,
                  "n_tensors": m.n_tensors, "n_params": m.n_params, "size_bytes": m.size_bytes,
                  "dtypes": {d: n for d, n in m.dtypes}},
        "sections": list(a.sections),
        "tensors": [_tensor(t) for t in a.tensors],
        "alerts": [dataclasses.asdict(al) for al in a.alerts],
        "timings": dataclasses.asdict(a.timings) if timings else None,
        "notes": list(a.notes),
        "projections": {"joint": [{"fan_in": j.fan_in, "layers": list(j.layers), "per_layer_cap": j.per_layer_cap,
                                   "explained_variance_ratio": list(j.explained_variance_ratio),
                                   "views": ["pca"] + (["umap"] if j.umap is not None else [])}
                                  for j in a.joint_maps]} if "projections" in a.sections else None,
        "saliency": _saliency(a.saliency),
        "circuits": _circuits(a.circuits),
        "bias": _bias(a.bias),
        "importance": _importance(a.importance),
        "training": _training(a.training),
        "diff": _diff(a.diff),
    })
