"""Bokeh figure of the circuits section: rows of unit tiles (examples, kernels, factor images)."""
from __future__ import annotations

import math

import numpy as np

from ..analysis.views import clip_level
from .saliency_figures import MAX_TILE_SIDE, block_mean, diverging, inputs_rgb
from .style import FONT, style
from .structure import TileColumn, TileGrid

MIN_SIDE = 24  # canvas units per tile side: small kernels are enlarged by whole pixels to about this
_GAP = 2
_TILE_PX = 52  # screen pixels per tile side


def _rgb_tiles(col: TileColumn, row_clip: np.ndarray, grid_clip: float, span: tuple[float, float]) -> np.ndarray:
    """The column's tiles as RGB [rows, h, w, 3] in 0..255."""
    t = col.tiles
    if col.kind == "image":
        return inputs_rgb(t, *span)
    if col.kind == "signed":
        return np.stack([diverging(block_mean(t[r], MAX_TILE_SIDE), row_clip[r])[0] for r in range(len(t))])
    x = np.moveaxis(block_mean(np.moveaxis(t, -1, 1), MAX_TILE_SIDE), 1, -1)
    return 255 * np.clip(x / grid_clip, 0, 1) if grid_clip > 0 else np.zeros_like(x)


def grid_canvas(spec: TileGrid) -> tuple[np.ndarray, list[int], int]:
    """(RGBA canvas with row 0 at the top, each column's x offset, tile side)."""
    signed = [c.tiles for c in spec.columns if c.kind == "signed"]
    rows = len(spec.row_labels)
    row_clip = (np.array([clip_level(np.concatenate([np.ravel(t[r]) for t in signed]), 100.0) for r in range(rows)])
                if signed else np.zeros(rows))
    rgb = [c.tiles for c in spec.columns if c.kind == "rgb"]
    grid_clip = clip_level(np.concatenate([np.ravel(t) for t in rgb]), 99.0) if rgb else 0.0
    images = [c.tiles for c in spec.columns if c.kind == "image"]  # examples and optimised inputs: one range
    span = (min(float(t.min()) for t in images), max(float(t.max()) for t in images)) if images else (0.0, 1.0)
    coloured = [_rgb_tiles(c, row_clip, grid_clip, span) for c in spec.columns]
    largest = max(max(t.shape[1:3]) for t in coloured)
    side = largest * max(1, math.ceil(MIN_SIDE / largest))
    canvas = np.zeros((rows * (side + _GAP) - _GAP, len(coloured) * (side + _GAP) - _GAP, 4), np.uint8)
    xs = []
    for c, tiles in enumerate(coloured):
        h, w = tiles.shape[1:3]
        f = max(1, side // max(h, w))  # whole-pixel enlargement keeps every weight a sharp square
        big = np.repeat(np.repeat(tiles, f, axis=1), f, axis=2)
        y0, x0 = (side - h * f) // 2, c * (side + _GAP) + (side - w * f) // 2
        xs.append(c * (side + _GAP))
        for r in range(rows):
            y = r * (side + _GAP) + y0
            canvas[y:y + h * f, x0:x0 + w * f, :3] = np.round(big[r]).astype(np.uint8)
            canvas[y:y + h * f, x0:x0 + w * f, 3] = 255
    return canvas, xs, side


def tile_grid(spec: TileGrid):
    from bokeh.core.properties import value
    from bokeh.models import CustomJSHover, HoverTool, Range1d
    from bokeh.plotting import figure

    canvas, xs, side = grid_canvas(spec)
    H, W = canvas.shape[:2]
    px = _TILE_PX / side
    label_chars = max(map(len, spec.row_labels), default=0)
    label_w = (label_chars * 6.4 + 10) / px
    header = 34 / px
    extra = max(0.0, len(spec.title) * 7 - (W + label_w) * px - 16) / px  # room for the title, on the right
    p = figure(width=int((W + label_w + extra) * px) + 16, height=int((H + header) * px) + 46, tools="",
               title=spec.title, toolbar_location=None, min_border=8, x_range=Range1d(-label_w, W + extra),
               y_range=Range1d(H, -header))
    img = p.image_rgba(image=[canvas.view(np.uint32)[..., 0]], x=0, y=0, dw=W, dh=H)
    runs: list[list] = []  # [first, last, group]: one first-line label over consecutive columns
    for c, col in enumerate(spec.columns):
        if runs and runs[-1][2] == col.group and col.group:
            runs[-1][1] = c
        else:
            runs.append([c, c, col.group])
    for texts, x, dy in (([r[2] for r in runs], [(xs[r[0]] + xs[r[1]] + side) / 2 for r in runs], 18),
                         ([c.label for c in spec.columns], [x + side / 2 for x in xs], 4)):
        p.text(x, [-dy / px] * len(x), texts, text_align="center", text_baseline="bottom", text_font=value(FONT),
               text_font_size="10.5px", text_color="#333")
    step = side + _GAP
    p.text([-6 / px] * len(spec.row_labels), [r * step + side / 2 for r in range(len(spec.row_labels))],
           list(spec.row_labels), text_align="right", text_baseline="middle", text_font=value(FONT),
           text_font_size="11px", text_color="#333")
    details = [[(c.details[r] if r < len(c.details) else "") for r in range(len(spec.row_labels))]
               for c in spec.columns]
    hover = CustomJSHover(args=dict(step=step, side=side, rows=list(spec.row_labels),
                                    cols=[c.label for c in spec.columns], details=details), code="""
        const c = Math.floor(special_vars.x / step), r = Math.floor(special_vars.y / step);
        if (r < 0 || r >= rows.length || c < 0 || c >= cols.length) return "";
        if (special_vars.x - c * step >= side || special_vars.y - r * step >= side) return "";
        const d = details[c][r];
        return `${rows[r]} · ${cols[c]}${d ? " · " + d : ""}`;
    """)
    p.add_tools(HoverTool(renderers=[img], tooltips=[("", "$x{custom}")], formatters={"$x": hover}))
    p.axis.visible = False
    p.grid.grid_line_color = None
    style(p)
    return p
