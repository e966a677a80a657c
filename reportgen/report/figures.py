"""Bokeh figures from figure specs; each is shipped as compressed json_item for lazy rendering."""
from __future__ import annotations

import base64
import json
import zlib

from .structure import BarChart, Figure

# Okabe-Ito: distinguishable under the common colour-vision deficiencies.
ROLE_COLORS = {"dense": "#0072B2", "conv": "#E69F00", "embedding": "#009E73",
               "norm": "#CC79A7", "bias": "#56B4E9", "other": "#999999"}
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"


def _style(p) -> None:
    p.toolbar.logo = None
    p.title.text_font = FONT
    p.title.text_font_size = "13px"
    p.title.text_font_style = "normal"
    for axis in (*p.xaxis, *p.yaxis):
        axis.major_label_text_font = FONT
        axis.axis_label_text_font = FONT
        axis.axis_label_text_font_style = "normal"
    p.outline_line_color = None
    p.background_fill_color = "#ffffff"


def bar_chart(spec: BarChart):
    from bokeh.models import ColumnDataSource, HoverTool, NumeralTickFormatter
    from bokeh.plotting import figure

    labels = list(spec.labels)
    src = ColumnDataSource(dict(
        label=labels, value=list(spec.values), group=list(spec.groups),
        color=[ROLE_COLORS.get(g, "#999999") for g in spec.groups],
        shown=list(spec.hover_values or [str(v) for v in spec.values])))
    p = figure(y_range=list(reversed(labels)), height=max(140, 26 * len(labels) + 70),
               sizing_mode="stretch_width", title=spec.title, toolbar_location=None,
               x_axis_label=spec.x_label, tools="")
    show_legend = len(set(spec.groups)) > 1 and spec.groups != spec.labels
    extra = {"legend_field": "group"} if show_legend else {}
    p.hbar(y="label", right="value", height=0.72, color="color", source=src, **extra)
    p.add_tools(HoverTool(tooltips=[("", "@label"), ("parameters", "@shown"), ("role", "@group")]))
    p.xaxis.formatter = NumeralTickFormatter(format="0.[0]a")
    p.x_range.start = 0
    p.ygrid.grid_line_color = None
    if show_legend:  # above the plot, so it never covers a bar
        legend = p.legend[0]
        legend.orientation = "horizontal"
        legend.label_text_font = FONT
        legend.label_text_font_size = "11px"
        legend.border_line_color = None
        p.add_layout(legend, "above")
    _style(p)
    return p


_BUILDERS = {BarChart: bar_chart}


def to_bokeh(spec: Figure):
    return _BUILDERS[type(spec)](spec)


def packed_item(spec: Figure) -> str:
    """The figure as a zlib-compressed, base64 json_item: decoded in the page on demand."""
    from bokeh.embed import json_item

    item = json_item(to_bokeh(spec))
    # Key order matters: Bokeh defines each model where it first appears, then refers to it.
    raw = json.dumps(item, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")
