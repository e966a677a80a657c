"""Shared look of every figure: fonts, the role and diverging palettes, axis styling."""
from __future__ import annotations

import numpy as np

# Okabe-Ito: distinguishable under the common colour-vision deficiencies.
ROLE_COLORS = {"dense": "#0072B2", "conv": "#E69F00", "embedding": "#009E73",
               "norm": "#CC79A7", "bias": "#56B4E9", "other": "#999999"}
METHOD_COLORS = ("#56B4E9", "#E69F00", "#009E73", "#CC79A7")  # Okabe-Ito, one per saliency method
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
NAN_COLOR = "#FFD700"  # yellow: apart from both ends of RdBu for every common colour deficiency
_RDBU = ("#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
         "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f")  # ColorBrewer RdBu, blue -> red


def diverging_palette(n: int = 255) -> tuple[str, ...]:
    """RdBu interpolated to n colours; code 0 = most negative (blue), n-1 = most positive (red)."""
    anchors = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in _RDBU], float)
    t = np.linspace(0, len(_RDBU) - 1, n)
    lo = np.floor(t).astype(int).clip(0, len(_RDBU) - 2)
    rgb = anchors[lo] + (anchors[lo + 1] - anchors[lo]) * (t - lo)[:, None]
    return tuple("#%02x%02x%02x" % tuple(int(round(v)) for v in row) for row in rgb)


PALETTE = diverging_palette()


def style(p) -> None:
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
