"""Bokeh figures of neuron maps: linked PCA / UMAP / t-SNE scatters, scree plots, cross-layer maps."""
from __future__ import annotations

import numpy as np

from .structure import JointMapChart, NeuronMapChart
from .style import style

# Okabe-Ito again for clusters (at most 8), so cluster colours survive colour-blindness.
CLUSTER_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
_TOOLS = "box_select,lasso_select,tap,wheel_zoom,pan,reset"


def _sequential(values: np.ndarray) -> list[str]:
    from bokeh.palettes import Viridis256

    v = np.asarray(values, np.float64)
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    idx = np.zeros(v.size, int) if hi <= lo else np.round((v - lo) / (hi - lo) * 255).astype(int)
    return [Viridis256[i] for i in idx]


def _categorical(labels: np.ndarray, palette=CLUSTER_COLORS) -> list[str]:
    from bokeh.palettes import Category20

    colours = palette if labels.max(initial=0) < len(palette) else Category20[20]
    return [colours[int(c) % len(colours)] for c in labels]


def _scatter(title: str, src, x: str, y: str, tooltips, colour: str = "c_norm", name: str = "units"):
    from bokeh.models import HoverTool
    from bokeh.plotting import figure

    p = figure(height=290, sizing_mode="stretch_width", title=title, tools=_TOOLS, toolbar_location=None,
               match_aspect=False)
    r = p.scatter(x, y, source=src, size=6, fill_color=colour, line_color=colour, fill_alpha=0.8,
                  nonselection_fill_alpha=0.12, nonselection_line_alpha=0.12,
                  name=name)  # the page's colour-by switch recolours renderers named "units"
    p.add_tools(HoverTool(renderers=[r], tooltips=tooltips))
    p.axis.major_label_text_font_size = "9px"
    p.grid.grid_line_color = "#f0f0f0"
    style(p)
    return p


def neuron_map_chart(spec: NeuronMapChart):
    from bokeh.layouts import gridplot
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    data = {"unit": spec.units, "norm": spec.norms, "top": list(spec.top_inputs), "c_norm": _sequential(spec.norms)}
    for name, xy in spec.views:
        data[f"x_{name}"], data[f"y_{name}"] = xy[:, 0], xy[:, 1]
    if spec.clusters is not None:
        data["cluster"], data["c_cluster"] = spec.clusters, _categorical(spec.clusters)
    if spec.groups is not None:
        data["group"], data["c_group"] = spec.groups, _categorical(spec.groups)
    src = ColumnDataSource(data)  # one source: selecting in any view selects in all
    tips = [("unit", "@unit"), ("‖w‖", "@norm{0.000}"), ("strongest inputs", "@top")]
    if spec.clusters is not None:
        tips.insert(2, ("cluster", "@cluster"))
    if spec.groups is not None:
        tips.insert(2, (spec.group_label, "@group"))
    plots = [_scatter(name.upper() if name != "tsne" else "t-SNE", src, f"x_{name}", f"y_{name}", tips)
             for name, _ in spec.views]
    evr = np.asarray(spec.scree[:20], np.float64)
    k = np.arange(1, evr.size + 1)
    scree = figure(height=290, sizing_mode="stretch_width", title="Explained variance", tools="",
                   toolbar_location=None, x_axis_label="component", y_axis_label="fraction of variance",
                   y_range=(0, 1.02))
    bars = scree.vbar(x=k, top=evr, width=0.7, color="#0072B2")
    scree.line(k, np.cumsum(evr), color="#D55E00", line_width=2, legend_label="cumulative")
    scree.add_tools(HoverTool(renderers=[bars], tooltips=[("PC", "@x"), ("fraction", "@top{0.0000}")]))
    scree.legend.location = "center_right"
    scree.legend.border_line_color = None
    style(scree)
    return gridplot([[*plots, scree]], sizing_mode="stretch_width", toolbar_location="right")


def joint_map_chart(spec: JointMapChart):
    from bokeh.layouts import gridplot
    from bokeh.models import ColumnDataSource

    depth = spec.layer_of.astype(np.float64)
    data = {"layer": [spec.layers[i] for i in spec.layer_of], "unit": spec.unit_of,
            "c_layer": _sequential(depth)}
    for name, xy in spec.views:
        data[f"x_{name}"], data[f"y_{name}"] = xy[:, 0], xy[:, 1]
    src = ColumnDataSource(data)
    tips = [("layer", "@layer"), ("unit", "@unit")]
    plots = [_scatter(f"{name.upper()}, coloured by depth", src, f"x_{name}", f"y_{name}", tips, "c_layer", "joint")
             for name, _ in spec.views]
    return gridplot([plots], sizing_mode="stretch_width", toolbar_location="right")
