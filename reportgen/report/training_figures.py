"""Bokeh figures of the training section: curves over steps, distributions over time, labelled matrices."""
from __future__ import annotations

import numpy as np

from .structure import LineChart, MatrixChart, StepHistChart
from .style import FONT, style

# Okabe-Ito, then the same hues dashed: 16 lines before a colour and dash repeat.
_LINE_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def _sequential(n: int = 256) -> tuple[str, ...]:
    from bokeh.palettes import Viridis256

    return tuple(Viridis256[int(i)] for i in np.linspace(0, 255, n))


def line_chart(spec: LineChart):
    from bokeh.models import ColumnDataSource, HoverTool, Legend, Span
    from bokeh.plotting import figure

    p = figure(height=300, sizing_mode="stretch_width", title=spec.title, tools="box_zoom,wheel_zoom,pan,reset",
               toolbar_location="right", x_axis_label=spec.x_label, y_axis_label=spec.y_label,
               y_axis_type="log" if spec.log_y else "linear")
    items = []
    x = np.asarray(spec.x, float)
    for k, (label, y) in enumerate(spec.series):
        y = np.asarray(y, float)
        keep = np.isfinite(y) & ((y > 0) if spec.log_y else True)  # a log axis has no zero
        src = ColumnDataSource(dict(x=x[keep], y=y[keep], name=[label] * int(keep.sum())))
        r = p.line("x", "y", source=src, color=_LINE_COLORS[k % 8], line_width=1.8,
                   line_dash="solid" if k < 8 else "dashed")
        items.append((label, [r]))
    p.add_tools(HoverTool(tooltips=[("", "@name"), ("step", "@x{0,0}"), (spec.y_label, "@y{0.000e}")],
                          mode="mouse"))
    if spec.reference is not None:
        p.add_layout(Span(location=spec.reference, dimension="width", line_color="#555", line_dash="dashed"))
    if len(items) > 1:
        legend = Legend(items=items[:24], label_text_font=FONT, label_text_font_size="10px", click_policy="hide",
                        border_line_color=None, spacing=0, padding=2)
        p.add_layout(legend, "right")
    style(p)
    return p


def step_hist_chart(spec: StepHistChart):
    from bokeh.models import ColorBar, LinearColorMapper, Range1d
    from bokeh.plotting import figure

    counts = np.log1p(np.asarray(spec.counts, np.float32))  # [S, B]
    steps, edges = np.asarray(spec.steps), np.asarray(spec.edges, float)
    # The image: rows = bins (low values at the bottom), columns = records, as TensorBoard draws it.
    img = counts.T
    x0, x1 = float(steps[0]), float(steps[-1]) if len(steps) > 1 else float(steps[0]) + 1
    mapper = LinearColorMapper(palette=list(_sequential()), low=0, high=float(img.max()) or 1.0)
    p = figure(height=240, sizing_mode="stretch_width", title=spec.title, tools="box_zoom,reset",
               toolbar_location="right", x_axis_label="step", y_axis_label=spec.value_label,
               x_range=Range1d(x0, x1), y_range=Range1d(float(edges[0]), float(edges[-1])))
    p.image(image=[img.astype(np.float32)], x=x0, y=float(edges[0]), dw=x1 - x0, dh=float(edges[-1] - edges[0]),
            color_mapper=mapper)
    p.add_layout(ColorBar(color_mapper=mapper, width=8, title="log(1+count)", title_text_font_size="10px"), "right")
    p.grid.grid_line_color = None
    style(p)
    return p


def matrix_chart(spec: MatrixChart):
    from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper
    from bokeh.plotting import figure

    values = np.asarray(spec.values, float)
    rows, cols = list(spec.rows), list(spec.cols)
    r_idx, c_idx = np.meshgrid(np.arange(len(rows)), np.arange(len(cols)), indexing="ij")
    src = ColumnDataSource(dict(row=[rows[i] for i in r_idx.ravel()], col=[cols[j] for j in c_idx.ravel()],
                                value=values.ravel()))
    mapper = LinearColorMapper(palette=list(_sequential()), low=0, high=float(np.nanmax(values)) or 1.0)
    p = figure(height=min(640, 26 * len(rows) + 110), sizing_mode="stretch_width", title=spec.title,
               x_range=cols, y_range=list(reversed(rows)), tools="", toolbar_location=None,
               x_axis_label=spec.col_label, y_axis_label=spec.row_label)
    p.rect("col", "row", 1, 1, source=src, fill_color={"field": "value", "transform": mapper}, line_color="white")
    p.add_tools(HoverTool(tooltips=[("", "@row · @col"), (spec.value_label, "@value{0.000}")]))
    p.add_layout(ColorBar(color_mapper=mapper, width=8, title=spec.value_label, title_text_font_size="10px"), "right")
    p.grid.grid_line_color = None
    p.axis.major_tick_line_color = None
    style(p)
    return p
