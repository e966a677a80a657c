"""Build the neuron-map parts of the report: per-layer linked maps, cross-layer maps, the summary table."""
from __future__ import annotations

import math
from typing import Callable

from ..types import Analysis, NeuronMap, TensorAnalysis
from . import fmt
from .structure import Cell, JointMapChart, NeuronMapChart, Section, Table


def _top_inputs(m: NeuronMap) -> tuple[str, ...]:
    return tuple(" · ".join(f"in {int(i)} ({w:+.3g})" for i, w in zip(idx, ws))
                 for idx, ws in zip(m.top_inputs, m.top_weights))


def neuron_map_figure(figure_id: str, t: TensorAnalysis) -> tuple[NeuronMapChart, str] | None:
    m = t.neuron_map
    if m is None:
        return None
    views = [("pca", m.pca)] + [(n, xy) for n, xy in (("umap", m.umap), ("tsne", m.tsne)) if xy is not None]
    names = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}
    chart = NeuronMapChart(
        id=f"{figure_id}-map", title=f"Neuron map: {len(m.shown):,} of {m.n_units:,} units", units=m.shown,
        views=tuple(views), norms=m.norms, clusters=m.clusters if m.n_clusters > 1 else None,
        groups=m.groups, group_label=m.group_label, top_inputs=_top_inputs(m), scree=m.explained_variance_ratio)
    what = "token or position row" if t.role == "embedding" else "output unit (its incoming weight vector)"
    clusters = (f"{m.n_clusters} clusters (Ward, mean silhouette {m.silhouette:.2f})" if m.n_clusters > 1 else
                "no cluster structure (best silhouette " + (f"{m.silhouette:.2f})" if not math.isnan(m.silhouette)
                                                            else "undefined: too few units)"))
    caption = (f"Neuron map: one point per {what}, in {', '.join(names[v] for v, _ in views)}; "
               f"PC1 and PC2 explain {fmt.percent(sum(m.explained_variance_ratio[:2]))} of the variance; "
               f"{clusters}. Drag a box or lasso in one view to select the same units in the others; the "
               "sidebar switches colour between norm, cluster and head." + "".join(f" {n}" for n in m.notes))
    return chart, caption


def _table(rows: list[tuple[int, TensorAnalysis]], anchor: Callable[[int], str]) -> Table:
    body = []
    for i, t in rows:
        m = t.neuron_map
        evr = m.explained_variance_ratio
        views = "PCA" + (", UMAP" if m.umap is not None else "") + (", t-SNE" if m.tsne is not None else "")
        body.append((Cell(t.name, href="#" + anchor(i)), Cell(t.role), Cell(fmt.integer(m.n_units), sort=m.n_units),
                     Cell(fmt.integer(m.fan_in), sort=m.fan_in), Cell(fmt.integer(len(m.shown)), sort=len(m.shown)),
                     Cell(fmt.percent(evr[0]), sort=evr[0]), Cell(fmt.percent(sum(evr[:2])), sort=sum(evr[:2])),
                     Cell(str(m.n_clusters), sort=m.n_clusters),
                     Cell(fmt.num(m.silhouette, 2), sort=None if math.isnan(m.silhouette) else m.silhouette),
                     Cell(views)))
    return Table(headers=("Tensor", "Role", "units", "fan-in", "plotted", "PC1", "PC1+2", "clusters",
                          "silhouette", "views"),
                 rows=tuple(body), numeric=(False, False, True, True, True, True, True, True, True, False),
                 id="maps-table")


def maps_section(a: Analysis, anchor: Callable[[int], str]) -> Section:
    rows = [(i, t) for i, t in enumerate(a.tensors) if t.neuron_map is not None]
    charts = tuple(JointMapChart(
        id=f"joint-{j.fan_in}", title=f"{len(j.layers)} layers with fan-in {j.fan_in:,}", layers=j.layers,
        layer_of=j.layer_of, unit_of=j.unit_of,
        views=(("pca", j.pca),) + ((("umap", j.umap),) if j.umap is not None else ())) for j in a.joint_maps)
    n_nonlinear = sum(t.neuron_map.umap is not None for _, t in rows)
    intro = ("Each layer's output units as points: units with similar incoming weights compute similar "
             "features and land close together. PCA is linear and fitted on every unit; UMAP and t-SNE keep "
             f"neighbourhoods and are computed for {n_nonlinear} of {len(rows)} layers, evenly spaced in depth "
             "within a budget of points (projection_nonlinear_budget, at most projection_nonlinear_points "
             "units per layer). "
             + ("Cross-layer maps put the unit directions (L2-normalised) of all dense and conv layers that share "
                "an input dimension into one projection, coloured by depth: overlapping colours mean the layers "
                "share structure." if charts else ""))
    return Section(id="projections", title="Neuron maps", intro=intro if rows else
                   "No dense, conv or embedding kernel in this model has enough units to map.",
                   figures=charts, table=_table(rows, anchor) if rows else None,
                   table_intro=f"{len(rows)} layers mapped. Click a column to sort." if rows else "")
