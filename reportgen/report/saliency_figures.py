"""Bokeh figures of the saliency section: attribution tiles, feature shares, per-example strips."""
from __future__ import annotations

import numpy as np

from .style import FONT, METHOD_COLORS, PALETTE, style
from .structure import AttributionGrid, AttributionStrip, FeatureBars

MAX_TILE_SIDE = 64  # larger inputs are block-averaged for display
_RGB = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in PALETTE], np.float64)
_MISSING = np.array([225, 225, 225], np.float64)  # a class no example was attributed to
_GAP = 1  # canvas units between tiles


def block_mean(a: np.ndarray, side: int) -> np.ndarray:
    """Average-pool the last two axes so neither exceeds `side` (edges padded by repetition)."""
    h, w = a.shape[-2:]
    fh, fw = -(-h // side), -(-w // side)
    if fh == fw == 1:
        return a
    pad = [(0, 0)] * (a.ndim - 2) + [(0, -h % fh), (0, -w % fw)]
    a = np.pad(a, pad, mode="edge")
    return a.reshape(*a.shape[:-2], a.shape[-2] // fh, fh, a.shape[-1] // fw, fw).mean(axis=(-3, -1))


def diverging(a: np.ndarray, clip: float) -> tuple[np.ndarray, np.ndarray]:
    """RGB of a signed map on RdBu (blue negative, red positive) and its opacity |a|/clip."""
    t = np.clip(np.nan_to_num(a) / clip, -1, 1) if clip > 0 else np.zeros_like(a)
    rgb = _RGB[np.round(127 + 127 * t).astype(int)]
    rgb[np.isnan(a)] = _MISSING
    return rgb, np.abs(t)


def _clip(a: np.ndarray) -> float:
    finite = np.abs(a[np.isfinite(a)])
    return float(np.percentile(finite, 99)) if finite.size and finite.max() > 0 else 0.0


def inputs_rgb(inputs: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """[rows, h, w, c] inputs as RGB in 0..255 over [lo, hi], by default their joint value range
    (grey unless c = 3)."""
    lo = float(inputs.min()) if lo is None else lo
    hi = float(inputs.max()) if hi is None else hi
    x = (inputs - lo) / (hi - lo) if hi > lo else np.zeros_like(inputs, np.float64)
    x = x if x.shape[-1] == 3 else np.repeat(x.mean(-1, keepdims=True), 3, axis=-1)
    return 255 * np.moveaxis(block_mean(np.moveaxis(x, -1, 1), MAX_TILE_SIDE), 1, -1)


def grid_canvas(spec: AttributionGrid) -> np.ndarray:
    """All tiles in one RGBA image, _GAP units apart (gaps transparent); row 0 at the top."""
    maps = block_mean(spec.maps.astype(np.float64), MAX_TILE_SIDE)
    rows, _, th, tw = maps.shape
    inputs = inputs_rgb(spec.inputs) if spec.inputs is not None else None
    base = None
    if inputs is not None:
        # Overlays sit on the input lightened halfway to white so that strokes and colours both
        # read; ink-on-dark images (digits, MNIST: median at the dark end) are inverted first,
        # so their background is white too. The input column shows them as they are.
        dark = spec.inputs.shape[-1] != 3 and np.median(inputs) < 127.5
        base = 127.5 + (255 - inputs if dark else inputs) / 2
    canvas = np.zeros((rows * (th + _GAP) - _GAP, len(spec.columns) * (tw + _GAP) - _GAP, 4), np.uint8)
    for r in range(rows):
        row_clip = _clip(maps[r]) if spec.clip == "row" else None
        for c, (kind, k) in enumerate(spec.columns):
            if kind == "input":
                rgb = inputs[r]
            else:
                a = maps[r, k]
                colour, alpha = diverging(a, row_clip if row_clip is not None else _clip(a))
                if kind == "overlay":
                    alpha = 0.9 * alpha[..., None] ** 0.8  # faint attributions let the input show
                    rgb = (1 - alpha) * base[r] + alpha * colour
                else:
                    rgb = colour
            y, x = r * (th + _GAP), c * (tw + _GAP)
            canvas[y:y + th, x:x + tw, :3] = np.round(rgb).astype(np.uint8)
            canvas[y:y + th, x:x + tw, 3] = 255
    return canvas


def _groups(spec: AttributionGrid) -> list[tuple[int, int, str]]:
    """Runs of consecutive columns with the same label: (first, last, label)."""
    out: list[tuple[int, int, str]] = []
    for c, label in enumerate(spec.col_labels):
        if out and out[-1][2] == label:
            out[-1] = (out[-1][0], c, label)
        else:
            out.append((c, c, label))
    return out


def attribution_grid(spec: AttributionGrid):
    from bokeh.core.properties import value
    from bokeh.models import CustomJSHover, HoverTool, Range1d
    from bokeh.plotting import figure

    canvas = grid_canvas(spec)
    th, tw = block_mean(spec.maps[:1, :1], MAX_TILE_SIDE).shape[-2:]
    H, W = canvas.shape[:2]
    label_chars = max(map(len, spec.row_labels), default=0)
    px = min(14.0, 96 / max(th, tw), (860 - label_chars * 6.4) / W)
    py = max(px, 16.0) if th == 1 else px  # one-row strips (sequences) get legible height
    groups = _groups(spec)
    subrow = any(b > a for a, b, _ in groups)
    header = (34 if subrow else 20) / py  # canvas units above the tiles for the column labels
    label_w = (label_chars * 6.4 + 10) / px
    p = figure(width=int((W + label_w) * px) + 16, height=int((H + header) * py) + 16, tools="",
               toolbar_location=None, min_border=8, x_range=Range1d(-label_w, W), y_range=Range1d(H, -header))
    img = p.image_rgba(image=[canvas.view(np.uint32)[..., 0]], x=0, y=0, dw=W, dh=H)
    step_x, step_y = tw + _GAP, th + _GAP
    xs, ys, texts = [], [], []
    for a, b, label in groups:
        xs.append((a * step_x + b * step_x + tw) / 2)
        ys.append(-(18 if subrow else 4) / py)
        texts.append(label)
        if b > a:
            for c in range(a, b + 1):
                kind = spec.columns[c][0]
                xs.append(c * step_x + tw / 2)
                ys.append(-3 / py)
                texts.append("signed" if kind == "signed" else kind)
    p.text(xs, ys, texts, text_align="center", text_baseline="bottom", text_font=value(FONT), text_font_size="11px",
           text_color="#333")
    p.text([-6 / px] * len(spec.row_labels), [r * step_y + th / 2 for r in range(len(spec.row_labels))],
           list(spec.row_labels), text_align="right", text_baseline="middle", text_font=value(FONT),
           text_font_size="11px", text_color="#333")
    hover = CustomJSHover(args=dict(tw=step_x, th=step_y, rows=list(spec.row_details or spec.row_labels), cols=list(spec.col_labels),
                                    kinds=[k for k, _ in spec.columns], W=tw, H=th), code="""
        const c = Math.floor(special_vars.x / tw), r = Math.floor(special_vars.y / th);
        if (r < 0 || r >= rows.length || c < 0 || c >= cols.length) return "";
        const px = Math.floor(special_vars.x - c * tw), py = Math.floor(special_vars.y - r * th);
        if (px >= W || py >= H) return "";
        const what = kinds[c] == "input" ? "input" : `${cols[c]}${kinds[c] == "overlay" ? " (overlay)" : ""}`;
        return `${rows[r]} · ${what} · ${H > 1 ? `pixel (${py}, ${px})` : `position ${px}`}`;
    """)
    p.add_tools(HoverTool(renderers=[img], tooltips=[("", "$x{custom}")], formatters={"$x": hover}))
    p.axis.visible = False
    p.grid.grid_line_color = None
    style(p)
    return p


def feature_bars(spec: FeatureBars):
    from bokeh.models import ColumnDataSource, HoverTool, Legend, LegendItem, NumeralTickFormatter
    from bokeh.plotting import figure

    n, m = len(spec.features), len(spec.methods)
    height = 0.8 / m
    p = figure(height=max(180, 34 * n + 90), sizing_mode="stretch_width", title=spec.title, tools="",
               toolbar_location=None, x_axis_label="share of mean |attribution|", y_range=(n - 0.5, -0.5))
    items = []
    for k, (method, shares) in enumerate(zip(spec.methods, spec.shares)):
        y = np.arange(n) - 0.4 + height * (k + 0.5)
        src = ColumnDataSource(dict(y=y, share=list(shares), feature=list(spec.features), method=[method] * n))
        r = p.hbar(y="y", right="share", height=height * 0.9, source=src, color=METHOD_COLORS[k % len(METHOD_COLORS)])
        items.append(LegendItem(label=method, renderers=[r]))
    p.add_tools(HoverTool(tooltips=[("", "@feature"), ("method", "@method"), ("share", "@share{0.0%}")]))
    p.yaxis.ticker = list(range(n))
    p.yaxis.major_label_overrides = {i: f for i, f in enumerate(spec.features)}
    p.xaxis.formatter = NumeralTickFormatter(format="0%")
    p.x_range.start = 0
    p.ygrid.grid_line_color = None
    p.add_layout(Legend(items=items, orientation="horizontal", border_line_color=None, label_text_font=FONT,
                        label_text_font_size="11px"), "above")
    style(p)
    return p


def attribution_strip(spec: AttributionStrip):
    from bokeh.models import ColumnDataSource, HoverTool, Span
    from bokeh.plotting import figure

    n, f = spec.attributions.shape
    # Deterministic jitter (golden-ratio sequence) so points of one feature do not stack.
    jitter = ((np.arange(n) * 0.6180339887) % 1 - 0.5) * 0.6
    codes = np.round(spec.value_rank * 254).astype(int)
    src = ColumnDataSource(dict(
        x=spec.attributions.T.ravel().astype(np.float64), y=(np.arange(f)[:, None] + jitter[None]).ravel(),
        color=[PALETTE[c] for c in codes.T.ravel()], feature=np.repeat(np.array(spec.features, object), n).tolist(),
        value=spec.values.T.ravel().astype(np.float64), example=np.tile(np.asarray(spec.examples), f)))
    p = figure(height=max(180, 30 * f + 80), sizing_mode="stretch_width", title=spec.title,
               tools="box_zoom,reset", toolbar_location="right", x_axis_label="attribution",
               y_range=(f - 0.5, -0.5))
    p.add_layout(Span(location=0, dimension="height", line_color="#888", line_dash="dotted"))
    dots = p.scatter("x", "y", source=src, size=4.5, color="color", alpha=0.8, line_color=None)
    p.add_tools(HoverTool(renderers=[dots], tooltips=[("", "@feature"), ("example", "@example"),
                                                      ("value", "@value{0.000}"), ("attribution", "@x{0.0000}")]))
    p.yaxis.ticker = list(range(f))
    p.yaxis.major_label_overrides = {i: name for i, name in enumerate(spec.features)}
    p.ygrid.grid_line_color = None
    style(p)
    return p
