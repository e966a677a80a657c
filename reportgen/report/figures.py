"""Bokeh figures from figure specs; each is shipped as compressed json_item for lazy rendering."""
from __future__ import annotations

import base64
import json
import zlib

import numpy as np

from ..types import PERCENTILES
from .style import FONT, NAN_COLOR, PALETTE, ROLE_COLORS, style
from .structure import (AttributionGrid, AttributionStrip, BarChart, DepthChart, EsdChart, FeatureBars, FilterGrid,
                        HeatmapChart, HistogramChart, JointMapChart, LineChart, MatrixChart, MetricChart,
                        NeuronMapChart, StepHistChart, TileGrid)

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
    style(p)
    return p


def histogram_chart(spec: HistogramChart):
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    edges, counts = np.asarray(spec.edges), np.asarray(spec.counts, float)
    src = ColumnDataSource(dict(left=edges[:-1], right=edges[1:], count=counts,
                                logc=np.log10(counts + 1)))
    p = figure(height=220, sizing_mode="stretch_width", title=spec.title, tools="", toolbar_location=None,
               x_axis_label="weight value", y_axis_label="count")
    p.quad(left="left", right="right", bottom=0, top="count", source=src, color="#0072B2",
           line_color="white", line_width=0.5, name="hist")
    p.add_tools(HoverTool(tooltips=[("range", "@left{0.000e} … @right{0.000e}"), ("count", "@count{0,0}")]))
    p.yaxis[0].name = "hist-y"  # the page's log-count switch relabels it
    p.y_range.start = 0
    if edges[0] < 0:  # mark zero on symmetric histograms
        p.line([0, 0], [0, float(counts.max()) if counts.size else 1], color="#444", line_dash="dotted")
    style(p)
    return p


def depth_chart(spec: DepthChart):
    from bokeh.models import ColumnDataSource, HoverTool, SingleIntervalTicker
    from bokeh.plotting import figure

    pct = np.asarray(spec.percentiles)
    at = {q: pct[:, PERCENTILES.index(q)] for q in (1, 25, 50, 75, 99)}
    x = np.arange(len(spec.names))
    src = ColumnDataSource(dict(x=x, name=list(spec.names), role=list(spec.roles), anchor=list(spec.anchors),
                                color=[ROLE_COLORS[r] for r in spec.roles],
                                **{f"p{q}": v for q, v in at.items()}))
    p = figure(height=300, sizing_mode="stretch_width", title=spec.title, tools="xwheel_zoom,xpan,reset",
               x_range=(-0.7, len(x) - 0.3),
               toolbar_location="right", x_axis_label="tensor (file order)", y_axis_label="weight value")
    p.segment(x0="x", x1="x", y0="p1", y1="p99", color="color", source=src, line_width=1.5)
    boxes = p.vbar(x="x", bottom="p25", top="p75", width=0.6, color="color", source=src, legend_field="role")
    p.rect(x="x", y="p50", width=0.6, height=1, height_units="screen", color="#222", source=src)
    p.add_tools(HoverTool(renderers=[boxes], tooltips=[
        ("", "@name"), ("role", "@role"), ("p1 / p99", "@p1{0.000e} / @p99{0.000e}"),
        ("p25 / p50 / p75", "@p25{0.000e} / @p50{0.000e} / @p75{0.000e}")]))
    _tap_to_section(p, boxes)
    legend = p.legend[0]
    legend.orientation = "horizontal"
    legend.border_line_color = None
    p.add_layout(legend, "above")
    p.xaxis.ticker = SingleIntervalTicker(interval=1) if len(x) <= 30 else p.xaxis.ticker
    p.xgrid.grid_line_color = None
    style(p)
    return p


def _tap_to_section(p, renderer) -> None:
    """Clicking a tensor's glyph scrolls to its section (ids are positional, never names)."""
    from bokeh.models import OpenURL, TapTool

    p.add_tools(TapTool(renderers=[renderer], callback=OpenURL(url="#@anchor", same_tab=True)))


def metric_chart(spec: MetricChart):
    from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    x = np.arange(len(spec.names))
    src = ColumnDataSource(dict(x=x, y=np.asarray(spec.values, float), name=list(spec.names),
                                role=list(spec.roles), anchor=list(spec.anchors),
                                color=[ROLE_COLORS[r] for r in spec.roles]))
    p = figure(height=250, sizing_mode="stretch_width", title=spec.title, tools="xwheel_zoom,xpan,reset",
               x_range=(-0.7, len(x) - 0.3), toolbar_location="right",
               x_axis_label="matrix (file order)", y_axis_label=spec.y_label)
    if spec.band is not None:
        p.add_layout(BoxAnnotation(bottom=spec.band[0], top=spec.band[1], fill_color="#009E73",
                                   fill_alpha=0.09, line_color=None))
    p.line("x", "y", source=src, color="#bbbbbb", line_width=1)
    dots = p.scatter("x", "y", source=src, size=8, color="color", line_color="white", legend_field="role")
    p.add_tools(HoverTool(renderers=[dots], tooltips=[("", "@name"), ("role", "@role"),
                                                      (spec.y_label, "@y{0.000}")]))
    _tap_to_section(p, dots)
    legend = p.legend[0]
    legend.orientation = "horizontal"
    legend.border_line_color = None
    p.add_layout(legend, "above")
    p.xgrid.grid_line_color = None
    style(p)
    return p


def esd_chart(spec: EsdChart):
    from bokeh.models import ColumnDataSource, HoverTool, Span
    from bokeh.plotting import figure

    edges, counts = np.asarray(spec.edges), np.asarray(spec.counts, float)
    density = counts / max(counts.sum(), 1) / np.diff(edges)
    shown = counts > 0  # a log axis has no zero
    floor = float(density[shown].min()) / 3 if shown.any() else 1e-12
    src = ColumnDataSource(dict(left=edges[:-1][shown], right=edges[1:][shown], top=density[shown],
                                count=counts[shown]))
    p = figure(height=260, sizing_mode="stretch_width", title=spec.title, tools="", toolbar_location=None,
               x_axis_type="log", y_axis_type="log", x_axis_label="eigenvalue λ of WᵀW",
               y_axis_label="density")
    bars = p.quad(left="left", right="right", bottom=floor, top="top", source=src, color="#0072B2",
                  alpha=0.55, line_color="white", line_width=0.5, legend_label="ESD")
    p.add_tools(HoverTool(renderers=[bars], tooltips=[("λ", "@left{0.000e} … @right{0.000e}"),
                                                      ("count", "@count{0,0}")]))
    if np.isfinite(spec.alpha) and spec.xmax > spec.xmin > 0:
        # The fitted tail p(λ) = (α-1)/xmin·(λ/xmin)^-α, weighted by the share of eigenvalues in it.
        lam = np.geomspace(spec.xmin, spec.xmax, 64)
        pdf = spec.tail_fraction * (spec.alpha - 1) / spec.xmin * (lam / spec.xmin) ** -spec.alpha
        keep = pdf >= floor  # below the lowest bar the line leaves the plot
        p.line(lam[keep], pdf[keep], color="#D55E00", line_width=2.5,
               legend_label=f"power law α = {spec.alpha:.2f}")
        p.add_layout(Span(location=spec.xmin, dimension="height", line_color="#D55E00", line_dash="dashed"))
        p.scatter([spec.xmin], [floor], marker="triangle", size=9, color="#D55E00", legend_label="xmin")
    if spec.bulk_max > 0:
        p.add_layout(Span(location=spec.bulk_max, dimension="height", line_color="#555", line_dash="dotted",
                          line_width=2))
        p.scatter([spec.bulk_max], [floor], marker="diamond", size=9, color="#555", legend_label="MP bulk edge")
    legend = p.legend[0]
    legend.orientation = "horizontal"
    legend.label_text_font_size = "10px"
    legend.glyph_width = 14
    legend.spacing = 6
    legend.padding = 2
    legend.border_line_color = None
    p.add_layout(legend, "above")  # never over the bars
    style(p)
    return p


def _mapper(nan_color: str):
    from bokeh.models import LinearColorMapper

    # Codes 0..254 run blue -> white (127) -> red; 255 (NaN, or gaps) falls to high_color.
    return LinearColorMapper(palette=list(PALETTE), low=0, high=254, high_color=nan_color)


def heatmap_chart(spec: HeatmapChart):
    from bokeh.models import CustomJSHover, HoverTool, Range1d
    from bokeh.plotting import figure

    cells_r, cells_c = spec.codes.shape
    height = int(min(560, max(180, 680 * cells_r / max(cells_c, 1)))) + 60
    p = figure(height=height, sizing_mode="stretch_width", title=spec.title, tools="box_zoom,wheel_zoom,pan,reset",
               toolbar_location="right", x_axis_label=spec.col_label, y_axis_label=spec.row_label,
               x_range=Range1d(0, spec.n_cols, bounds=(0, spec.n_cols)),
               # Rows grow downwards like a matrix: with the y range flipped, an image anchored
               # at y=0 draws its row 0 at the top (checked in Chromium), so no flipud.
               y_range=Range1d(spec.n_rows, 0, bounds=(0, spec.n_rows)))
    img = p.image(image=[spec.codes], x=0, y=0, dw=spec.n_cols, dh=spec.n_rows,
                  color_mapper=_mapper(NAN_COLOR))
    hover = CustomJSHover(args=dict(bh=spec.block_rows, bw=spec.block_cols, R=spec.n_rows, C=spec.n_cols,
                                    clip=spec.clip), code="""
        const r = Math.floor(special_vars.y), c = Math.floor(special_vars.x);
        const r0 = Math.floor(r / bh) * bh, c0 = Math.floor(c / bw) * bw;
        const rows = bh > 1 ? `rows ${r0}–${Math.min(r0 + bh, R) - 1}` : `row ${r0}`;
        const cols = bw > 1 ? `cols ${c0}–${Math.min(c0 + bw, C) - 1}` : `col ${c0}`;
        if (value == 255) return `${rows} · ${cols} · NaN`;
        const v = (value - 127) / 127 * clip, edge = Math.abs(value - 127) == 127 ? " (at the colour limit)" : "";
        return `${rows} · ${cols} · ${bh * bw > 1 ? "block extreme " : ""}w ≈ ${v.toPrecision(3)}${edge}`;
    """)
    p.add_tools(HoverTool(renderers=[img], tooltips=[("", "@image{custom}")], formatters={"@image": hover}))
    if spec.outliers:
        rr = [(r + 0.5) * spec.block_rows for r, _, _ in spec.outliers]
        cc = [(c + 0.5) * spec.block_cols for _, c, _ in spec.outliers]
        p.scatter(cc, rr, marker="x", size=7, color="#111", line_width=1.5)
    p.grid.grid_line_color = None
    style(p)
    return p


def filter_grid(spec: FilterGrid):
    """All tiles in one composite image with 1-pixel gaps: one glyph, one compact array."""
    from bokeh.models import CustomJSHover, HoverTool, Range1d
    from bokeh.plotting import figure

    tiles = spec.tiles
    if spec.mode == "top_inputs":  # [out, k, kh, kw]: rows = output channels, columns = ranked inputs
        n, k, kh, kw = tiles.shape
        grid_c, cells = k, [(r, c, tiles[r, c]) for r in range(n) for c in range(k)]
        labels = [list(ins) for ins in spec.in_channels]
    else:  # one tile per output channel ([out, kh, kw, 3] RGB or [out, 1, kh, kw]), 8 to a row
        n = tiles.shape[0]
        kh, kw = tiles.shape[1:3] if spec.mode == "rgb" else tiles.shape[2:4]
        grid_c = min(8, n)
        cells = [(*divmod(t, grid_c), tiles[t] if spec.mode == "rgb" else tiles[t, 0]) for t in range(n)]
        labels = [[o] for o in spec.out_channels]
    grid_r = max(r for r, _, _ in cells) + 1
    shape = (grid_r * (kh + 1) - 1, grid_c * (kw + 1) - 1)
    # Gaps: transparent in RGB, code 255 (the mapper's transparent high colour) otherwise.
    canvas = np.zeros((*shape, 4), np.uint8) if spec.mode == "rgb" else np.full(shape, 255, np.uint8)
    for r, c, tile in cells:
        window = canvas[r * (kh + 1): r * (kh + 1) + kh, c * (kw + 1): c * (kw + 1) + kw]
        if spec.mode == "rgb":
            window[..., :3], window[..., 3] = tile, 255
        else:
            window[...] = tile
    H, W = canvas.shape[:2]
    px = max(4.0, min(28.0, 840 / W, 600 / H))
    # Square pixels: the frame is sized to the canvas; the title lives in the HTML caption.
    p = figure(width=int(W * px) + 12, height=int(H * px) + 12, tools="", toolbar_location=None,
               min_border=6,
               x_range=Range1d(0, W), y_range=Range1d(H, 0))
    if spec.mode == "rgb":
        img = p.image_rgba(image=[canvas.view(np.uint32)[..., 0]], x=0, y=0, dw=W, dh=H)
    else:
        img = p.image(image=[canvas], x=0, y=0, dw=W, dh=H, color_mapper=_mapper("rgba(0,0,0,0)"))
    hover = CustomJSHover(args=dict(th=kh + 1, tw=kw + 1, outs=list(spec.out_channels), ins=labels,
                                    per_row=grid_c, tiled=spec.mode != "top_inputs"), code="""
        const r = Math.floor(special_vars.y / th), c = Math.floor(special_vars.x / tw);
        if (tiled) { const t = r * per_row + c; return t < outs.length ? `output channel ${outs[t]}` : ""; }
        if (r >= outs.length || c >= ins[r].length) return "";
        return `output channel ${outs[r]} · input channel ${ins[r][c]} (#${c + 1} by L2 norm)`;
    """)
    p.add_tools(HoverTool(renderers=[img], tooltips=[("", "$x{custom}")], formatters={"$x": hover}))
    p.axis.visible = False
    p.grid.grid_line_color = None
    style(p)
    return p


from .circuits_figures import tile_grid  # noqa: E402
from .maps_figures import joint_map_chart, neuron_map_chart, neuron_map_item, stable_ids  # noqa: E402
from .saliency_figures import attribution_grid, attribution_strip, feature_bars  # noqa: E402
from .training_figures import line_chart, matrix_chart, step_hist_chart  # noqa: E402

_BUILDERS = {BarChart: bar_chart, HistogramChart: histogram_chart, DepthChart: depth_chart,
             MetricChart: metric_chart, EsdChart: esd_chart, NeuronMapChart: neuron_map_chart,
             JointMapChart: joint_map_chart,
             HeatmapChart: heatmap_chart, FilterGrid: filter_grid, AttributionGrid: attribution_grid,
             FeatureBars: feature_bars, AttributionStrip: attribution_strip, LineChart: line_chart,
             StepHistChart: step_hist_chart, MatrixChart: matrix_chart, TileGrid: tile_grid}


def to_bokeh(spec):
    return _BUILDERS[type(spec)](spec)


def packed_item(spec) -> str:
    """The figure as a zlib-compressed, base64 json_item: decoded in the page on demand."""
    from bokeh.embed import json_item

    # Key order matters: Bokeh defines each model where it first appears, then refers to it.
    text = (neuron_map_item(spec) if isinstance(spec, NeuronMapChart)
            else stable_ids(json.dumps(json_item(to_bokeh(spec)), separators=(",", ":")), spec.id))
    raw = text.encode("utf-8")
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")
