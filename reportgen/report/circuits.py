"""Build the circuits section: top connections with context, expanded weights, NMF weight factors."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..analysis.saliency_phase import channels_last
from ..types import Circuits, ExpandedWeights, UnitContext
from . import fmt
from .structure import Cell, HeatmapChart, Part, Section, Table, TileColumn, TileGrid

Href = Callable[[str | None], str | None]
FACTOR_COLOURS = ("red", "green", "blue")
ORDINALS = ("1st", "2nd", "3rd")

TOP_TEXT = ("Each row is one unit of the layer: first the inputs that excite it most among the {n} examples "
            "(and, for images, an input optimised to excite it), then the units of the layer below that feed it "
            "most strongly, ranked by the L2 norm of the kernel connecting them (lucid's ranking). Red weights "
            "excite and blue inhibit; one colour scale per row, so the kernels of a unit compare along it.")
EXPANDED_TEXT = ("Expanded weights multiply out the layers between a source and a target, with every ReLU read as "
                 "the identity and every max-pool as an average-pool, and are read at the target's centre position, "
                 "so each tile shows where in the source's map, and through which source unit, a target unit looks "
                 "(rows: its strongest target units; columns: their strongest sources). They describe what the "
                 "weights can do, not what happens on a given input: excitation and inhibition along different "
                 "paths can cancel, so a strong expanded weight is a hypothesis to check against the activations.")
NMF_TEXT = ("The source units of each layer's expanded weights are grouped into {k} non-negative factors by one-sided "
            "NMF (the positive and the negative parts of the weights factored together), and the factors are drawn as "
            "red, green and blue, so that a unit's whole kernel becomes one image: red where the first factor's source "
            "units excite it, and so on, with inhibition in a second image. The table names each factor's strongest "
            "source units; 'explained' is the share of the weights the {k} factors reconstruct, so a low value means "
            "the colours are a rough summary.")


def _unit(c: Circuits, layer: str, u: int) -> str:
    """"Conv_1 #12" (the output layer's units with their class); input channels, or a tabular
    model's features by name."""
    if layer != "input":
        output = layer == c.layers[-1].name and u < len(c.class_names)
        return f"{layer} #{u}" + (f" · class {c.class_names[u]}" if output else "")
    if c.input_kind == "tabular":
        return c.input_names[u] if u < len(c.input_names) else f"input feature {u}"
    return f"input channel {u}"


def _examples(c: Circuits) -> dict[int, np.ndarray]:
    images = channels_last(np.asarray(c.example_images)) if c.input_kind == "image" else None
    return {int(i): images[k] for k, i in enumerate(c.example_ids)} if images is not None else {}


def _context(c: Circuits) -> dict[str, UnitContext]:
    return {x.layer: x for x in c.contexts}


def _best_example(ctx: dict[str, UnitContext], layer: str, u: int) -> str:
    x = ctx.get(layer)
    return f"top example #{int(x.examples[u, 0])} ({fmt.num(float(x.values[u, 0]), 3)})" if x is not None else ""


def _source_columns(c: Circuits, e: ExpandedWeights, ctx: dict[str, UnitContext]) -> list[TileColumn]:
    cols = []
    ranked, norms = e.ranked[e.shown], e.norms[e.shown]
    for r in range(ranked.shape[1]):
        tiles = np.stack([e.weights[t, :, :, s] for t, s in zip(e.shown, ranked[:, r])])
        details = tuple(f"from {_unit(c, e.source, int(s))} · L2 {fmt.num(float(n), 3)}"
                        + (f" · its {_best_example(ctx, e.source, int(s))}" if e.source in ctx else "")
                        for s, n in zip(ranked[:, r], norms[:, r]))
        label = ORDINALS[r] if r < 3 else f"{r + 1}th"
        cols.append(TileColumn(label=label, kind="signed", tiles=tiles, details=details,
                               group=f"strongest {e.source} units" if e.source != "input" else "input channels"))
    return cols


def _example_columns(c: Circuits, images: dict[int, np.ndarray], layer: str, units: np.ndarray, k: int) -> list[TileColumn]:
    x = _context(c)[layer]
    if not images:
        return []
    cols = []
    for j in range(min(k, x.examples.shape[1])):
        ids = x.examples[units, j]
        cols.append(TileColumn(label=str(j + 1) if k > 1 else "best example", group="top examples" if k > 1 else "",
                               kind="image", tiles=np.stack([images[int(i)] for i in ids]),
                               details=tuple(f"example #{int(i)} · activation {fmt.num(float(v), 3)}"
                                             for i, v in zip(ids, x.values[units, j]))))
    return cols


def _top_connections(c: Circuits, images: dict, by_target: dict[str, ExpandedWeights], n_examples: int) -> list:
    figures = []
    ctx = _context(c)
    for i, layer in enumerate(c.chosen):
        e = by_target.get(layer)
        if e is None:
            continue
        cols = _example_columns(c, images, layer, e.shown, n_examples)
        am = next((a for a in c.actmax if a.layer == layer), None)
        if am is not None:  # optimised for the same units, in the same order (the phase's choice)
            cols.append(TileColumn(label="input", group="optimised", kind="image", tiles=channels_last(am.images),
                                   details=tuple(f"activation {fmt.num(float(a), 3)} (best example {fmt.num(float(b), 3)})"
                                                 for a, b in zip(am.activation, am.top_example))))
        cols += _source_columns(c, e, ctx)
        n = len(e.ranked)
        some = f"; the {len(e.shown)} of {n} units with the largest weights" if len(e.shown) < n else ""
        figures.append(TileGrid(id=f"circ-top-{i}", title=f"Top connections into {layer} (from {e.source}{some})",
                                row_labels=tuple(_unit(c, layer, int(u)) for u in e.shown), columns=tuple(cols)))
    return figures


def _expanded_title(e: ExpandedWeights) -> str:
    through = f" through {', '.join(e.skipped)}" if e.skipped else ""
    where = f", read at position {e.centre}" if e.centre else ""
    cut = " (receptive field cut at the map's edge)" if e.truncated else ""
    return f"Expanded weights {e.source} → {e.target}{through}{where}{cut}"


def _expanded(c: Circuits, images: dict) -> list:
    """The pairs the analysis chose to draw (circuits_max_pairs), in its order."""
    figures = []
    ctx = _context(c)
    for i in c.drawn:
        e = c.expanded[i]
        if e.heatmap is not None:
            h = e.heatmap
            figures.append(HeatmapChart(
                id=f"circ-exp-{i}", title=_expanded_title(e), codes=h.codes, n_rows=h.n_rows, n_cols=h.n_cols,
                block_rows=h.block_rows, block_cols=h.block_cols, clip=h.clip, outliers=h.outliers,
                row_label=f"{e.target} unit", col_label=f"{e.source} unit" if e.source != "input" else "input feature"))
            continue
        cols = _example_columns(c, images, e.target, e.shown, 1) + _source_columns(c, e, ctx)
        figures.append(TileGrid(id=f"circ-exp-{i}", title=_expanded_title(e),
                                row_labels=tuple(_unit(c, e.target, int(u)) for u in e.shown), columns=tuple(cols),
                                wide=len(cols) > 3))  # narrow grids (one input channel) sit side by side
    return figures


def _factors(c: Circuits, images: dict, by_target: dict[str, ExpandedWeights]) -> tuple[list, Table | None]:
    figures, rows = [], []
    for i, f in enumerate(c.factors):
        e = by_target[f.target]
        k = f.factors.shape[0]
        rgb = lambda a: a[..., :3] if k >= 3 else np.concatenate(  # noqa: E731
            [a, np.zeros((*a.shape[:-1], 3 - k), a.dtype)], axis=-1)
        cols = [TileColumn(label="excite", group="factors", kind="rgb", tiles=rgb(f.excitation[e.shown])),
                TileColumn(label="inhibit", group="factors", kind="rgb", tiles=rgb(f.inhibition[e.shown]))]
        cols += _example_columns(c, images, f.target, e.shown, 1)
        figures.append(TileGrid(id=f"circ-nmf-{i}", title=f"{f.target}'s kernels over {k} factors of {f.source}'s units "
                                                           f"({fmt.percent(f.explained)} explained)",
                                row_labels=tuple(_unit(c, f.target, int(u)) for u in e.shown), columns=tuple(cols),
                                wide=False))
        for j, v in enumerate(f.factors):
            top = np.argsort(-v, kind="stable")[:5]
            colour = FACTOR_COLOURS[j] if j < 3 and k <= 3 else f"factor {j + 1}"
            rows.append((Cell(f.target), Cell(colour), Cell(", ".join(f"{_unit(c, f.source, int(s))} ({v[s]:.2f})"
                                                                        for s in top if v[s] > 0)),
                         Cell(fmt.percent(f.explained), sort=f.explained)))
    table = Table(headers=("Layer", "Factor", "Strongest source units (weight, max 1)", "Explained"),
                  rows=tuple(rows), numeric=(False, False, False, True), id="circuits-factors") if rows else None
    return figures, table


def _pairs_table(c: Circuits, href: Href) -> Table:
    tensor = {l.name: l.tensor for l in c.layers}
    rows = []
    for e in c.expanded:
        rows.append((Cell(e.source, href=href(tensor.get(e.source))), Cell(e.target, href=href(tensor.get(e.target))),
                     Cell(", ".join(e.skipped) or "—"), Cell(fmt.shape(e.weights.shape)),
                     Cell("—" if e.centre is None else str(e.centre)),
                     _strongest(c, e)))
    return Table(headers=("Source", "Target", "Through", "Shape [target, h, w, source]", "Centre read",
                          "Strongest connection (L2)"),
                 rows=tuple(rows), numeric=(False,) * 6, id="circuits-pairs")


def _strongest(c: Circuits, e: ExpandedWeights) -> Cell:
    if not e.norms.size:
        return Cell("—")
    t = int(np.argmax(e.norms[:, 0]))
    n = float(e.norms[t, 0])
    return Cell(f"{_unit(c, e.source, int(e.ranked[t, 0]))} → {_unit(c, e.target, t)} ({fmt.num(n, 3)})", sort=n)


def circuits_section(c: Circuits | None, why: str, href: Href, n_examples: int = 4) -> Section:
    title = "Circuits"
    if c is None:
        return Section(id="circuits", title=title, intro=why)
    images = _examples(c)
    by_target = {e.target: e for e in c.expanded if not e.skipped}
    layers = ", ".join(f"{l.name} ({l.kind}, {l.n_units} units)" for l in c.layers)
    intro = (f"The model's computation holds {len(c.layers)} layers of units: {layers}. Following Voss et al., "
             "“Visualizing Weights” (Distill, 2021), these views put hidden weights in context: what the units respond "
             "to, how layers that are not adjacent connect, and which groups of units act together. "
             + " ".join(c.notes))
    parts = []
    top = _top_connections(c, images, by_target, n_examples)
    if top:
        parts.append(Part(title="Top connections", text=TOP_TEXT.format(n=f"{c.n_examples:,}"), figures=tuple(top)))
    if c.expanded:
        parts.append(Part(title="Expanded weights", text=EXPANDED_TEXT, figures=tuple(_expanded(c, images)),
                          table=_pairs_table(c, href)))
    if c.factors:
        figures, table = _factors(c, images, by_target)
        parts.append(Part(title="Weight factors", text=NMF_TEXT.format(k=c.factors[0].factors.shape[0]),
                          figures=tuple(figures), table=table))
    return Section(id="circuits", title=title, intro=intro, parts=tuple(parts))
