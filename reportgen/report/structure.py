"""The Report: page structure built from an Analysis; strings already formatted, no markup."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Cell:
    text: str
    sort: float | str | None = None  # value the table sorts by when it differs from the text
    href: str | None = None


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    numeric: tuple[bool, ...]  # right-align and sort numerically
    id: str = ""


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars: one per label, coloured by `groups` (a legend entry per group)."""

    id: str
    title: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    groups: tuple[str, ...]
    x_label: str
    hover_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistogramChart:
    id: str
    title: str
    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class DepthChart:
    """Percentile bands per tensor along depth: p1-p99 whisker, p25-p75 box, p50 tick."""

    id: str
    title: str
    names: tuple[str, ...]
    roles: tuple[str, ...]
    percentiles: tuple[tuple[float, ...], ...]  # per tensor, at PERCENTILES
    anchors: tuple[str, ...]


@dataclass(frozen=True)
class MetricChart:
    """One number per tensor along depth, coloured by role, with an optional healthy band."""

    id: str
    title: str
    names: tuple[str, ...]
    roles: tuple[str, ...]
    values: tuple[float, ...]
    anchors: tuple[str, ...]
    y_label: str
    band: tuple[float, float] | None = None


@dataclass(frozen=True)
class EsdChart:
    """Log-log ESD histogram with the fitted power-law tail, xmin and the MP bulk edge."""

    id: str
    title: str
    edges: tuple[float, ...]  # log-spaced
    counts: tuple[int, ...]
    alpha: float
    xmin: float
    xmax: float
    tail_fraction: float  # eigenvalues >= xmin / all positive eigenvalues
    bulk_max: float


@dataclass(frozen=True)
class NeuronMapChart:
    """Linked PCA / UMAP / t-SNE scatters of one layer's units plus its scree plot."""

    id: str
    title: str
    units: np.ndarray = field(repr=False, compare=False)  # unit index per point
    views: tuple[tuple[str, np.ndarray], ...] = field(default=(), repr=False, compare=False)  # (name, [n, 2])
    norms: np.ndarray = field(default=None, repr=False, compare=False)
    clusters: np.ndarray | None = field(default=None, repr=False, compare=False)
    groups: np.ndarray | None = field(default=None, repr=False, compare=False)
    group_label: str = ""
    top_inputs: tuple[str, ...] = ()  # per point, "in 12 (+0.53) · in 7 (−0.41)"
    scree: tuple[float, ...] = ()


@dataclass(frozen=True)
class JointMapChart:
    """Units of several layers with one input dimension in one projection, coloured by layer."""

    id: str
    title: str
    layers: tuple[str, ...]
    layer_of: np.ndarray = field(repr=False, compare=False)
    unit_of: np.ndarray = field(repr=False, compare=False)
    views: tuple[tuple[str, np.ndarray], ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class HeatmapChart:
    id: str
    title: str
    codes: np.ndarray = field(repr=False, compare=False)  # uint8, row 0 = unit 0
    n_rows: int = 0
    n_cols: int = 0
    block_rows: int = 1
    block_cols: int = 1
    clip: float = 1.0
    outliers: tuple[tuple[int, int, float], ...] = ()
    row_label: str = "output unit"
    col_label: str = "input"


@dataclass(frozen=True)
class FilterGrid:
    id: str
    title: str
    mode: str  # rgb | single | top_inputs
    tiles: np.ndarray = field(repr=False, compare=False)
    out_channels: tuple[int, ...] = ()
    in_channels: tuple[tuple[int, ...], ...] = ()
    clip: float = 1.0


@dataclass(frozen=True)
class AttributionGrid:
    """Saliency tiles in rows (examples, or methods) and labelled columns.

    `maps` [rows, n_maps, h, w] are signed attributions; each column shows the input, one map
    (diverging colours) or one map over the input (overlay). Colours saturate per tile
    (clip="tile") or per row, so that the tiles of one row compare (clip="row").
    """

    id: str
    title: str
    maps: np.ndarray = field(repr=False, compare=False)
    columns: tuple[tuple[str, int], ...] = ()  # ("input", -1) | ("signed", k) | ("overlay", k)
    col_labels: tuple[str, ...] = ()
    row_labels: tuple[str, ...] = ()
    row_details: tuple[str, ...] = ()  # longer per-row text for the hover
    inputs: np.ndarray | None = field(default=None, repr=False, compare=False)  # [rows, h, w, c]
    clip: str = "tile"
    wide: bool = True  # a full page row

@dataclass(frozen=True)
class FeatureBars:
    """Per feature, each method's share of the total mean |attribution| (grouped bars)."""

    id: str
    title: str
    features: tuple[str, ...]  # most important first
    methods: tuple[str, ...]
    shares: tuple[tuple[float, ...], ...]  # [method][feature]


@dataclass(frozen=True)
class AttributionStrip:
    """One point per (example, feature): attribution on x, feature on y, colour = feature value."""

    id: str
    title: str
    features: tuple[str, ...]
    attributions: np.ndarray = field(repr=False, compare=False)  # [examples, features]
    value_rank: np.ndarray = field(repr=False, compare=False)  # [examples, features] in [0, 1]
    values: np.ndarray = field(repr=False, compare=False)  # the feature values, for hover
    examples: np.ndarray = field(default=None, repr=False, compare=False)  # input index per row


@dataclass(frozen=True)
class LineChart:
    """Lines over training steps, one per series; log y optional, with a dashed reference level."""

    id: str
    title: str
    x: np.ndarray = field(repr=False, compare=False)
    series: tuple[tuple[str, np.ndarray], ...] = field(default=(), repr=False, compare=False)
    y_label: str = ""
    x_label: str = "step"
    log_y: bool = False
    reference: float | None = None
    reference_label: str = ""
    wide: bool = True


@dataclass(frozen=True)
class StepHistChart:
    """TensorBoard-style distributions over time: steps x bins, colour = log(1 + count)."""

    id: str
    title: str
    steps: np.ndarray = field(repr=False, compare=False)  # [S]
    edges: np.ndarray = field(repr=False, compare=False)  # [B + 1]
    counts: np.ndarray = field(repr=False, compare=False)  # [S, B]
    value_label: str = "value"


@dataclass(frozen=True)
class MatrixChart:
    """A labelled matrix of non-negative values (e.g. tensors x classes), sequential colours."""

    id: str
    title: str
    values: np.ndarray = field(repr=False, compare=False)  # [R, C]
    rows: tuple[str, ...] = ()
    cols: tuple[str, ...] = ()
    value_label: str = "value"
    row_label: str = ""
    col_label: str = ""
    wide: bool = True


@dataclass(frozen=True)
class TileColumn:
    """One column of a TileGrid: a tile per row, all of one kind.

    kind "image": inputs shown as they are (grey, or RGB with 3 channels), [rows, h, w, c];
    "signed": weights on diverging colours, one colour scale per row across its signed tiles,
    [rows, h, w]; "rgb": non-negative loadings of 3 factors added as red, green and blue on
    black, one scale for the whole grid, [rows, h, w, 3].
    """

    label: str  # the header's second line
    kind: str
    tiles: np.ndarray = field(repr=False, compare=False)
    details: tuple[str, ...] = ()  # per row, shown on hover
    group: str = ""  # the header's first line, one label over a run of columns that share it


@dataclass(frozen=True)
class TileGrid:
    """Rows of small image tiles (units) in labelled columns (examples, kernels, factors)."""

    id: str
    title: str
    row_labels: tuple[str, ...]
    columns: tuple[TileColumn, ...]
    wide: bool = True


Figure = (BarChart | HistogramChart | DepthChart | MetricChart | EsdChart | NeuronMapChart | JointMapChart
          | HeatmapChart | FilterGrid | AttributionGrid | FeatureBars | AttributionStrip | LineChart | StepHistChart
          | MatrixChart | TileGrid)


@dataclass(frozen=True)
class AlertItem:
    severity: str
    kind: str
    title: str
    tensor: str | None
    anchor: str | None
    message: str
    why: str


@dataclass(frozen=True)
class TensorSection:
    anchor: str
    name: str
    role: str
    summary: str  # "conv · 3×3×1×16 · float32 · 160 params"
    facts: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    errors: tuple[str, ...]
    figures: tuple[Figure, ...] = ()
    captions: tuple[str, ...] = ()  # one line under the figures: block size, colours, caps
    n_alerts: int = 0


@dataclass(frozen=True)
class Part:
    """A titled part of a section: how to read its figures, then the figures and a table."""

    title: str
    text: str
    figures: tuple[Figure, ...] = ()
    table: Table | None = None


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    intro: str = ""
    figures: tuple[Figure, ...] = ()
    table: Table | None = None
    table_intro: str = ""
    extra_tables: tuple[tuple[str, Table], ...] = ()  # (intro, table) after the main one
    parts: tuple[Part, ...] = ()  # after everything above


@dataclass(frozen=True)
class Report:
    title: str
    identity: tuple[tuple[str, str], ...]
    cards: tuple[tuple[str, str], ...]
    alerts: tuple[AlertItem, ...]
    overview: Table
    sections: tuple[Section, ...]
    tensors: tuple[TensorSection, ...]
    methods: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = field(default=())
    footer: str = ""
