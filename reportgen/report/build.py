"""The build stage: Analysis -> Report (sections, tables, figure specs, alerts); no HTML here."""
from __future__ import annotations

import re
from collections import Counter, OrderedDict

from ..types import PERCENTILES, ROLES, Analysis, TensorAnalysis
from . import fmt
from .methods import ALERT_KINDS, METHODS
from .maps import maps_section, neuron_map_figure
from .bias import bias_section
from .circuits import circuits_section
from .training import diff_section, importance_section, training_section
from .saliency import saliency_section
from .spectral import spectral_facts, spectral_figure, spectral_section
from .structure import (AlertItem, BarChart, Cell, DepthChart, FilterGrid, HeatmapChart, HistogramChart,
                        Report, Section, Table, TensorSection)

_COLLECTIONS = {"params", "batch_stats", "state_dict", "model", "module", "variables"}
_MAX_BLOCKS = 48


def anchor(index: int) -> str:
    # Tensor names come from untrusted files: ids are positional, never derived from names.
    return f"t{index}"


def block_of(name: str) -> str:
    """Top-level block: the first path part, plus a layer index when one follows closely."""
    parts = [p for p in re.split(r"[./]", name) if p]
    if len(parts) > 1 and parts[0].lower() in _COLLECTIONS:
        parts = parts[1:]
    for i, part in enumerate(parts[:3]):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    return parts[0] if len(parts) > 1 else "(top level)"


def _identity(a: Analysis) -> tuple[tuple[str, str], ...]:
    m = a.model
    total = max(m.n_params, 1)
    dtypes = ", ".join(f"{d} {fmt.percent(n / total)}" for d, n in m.dtypes) or "—"
    return (
        ("Source", m.source), ("Format", m.format), ("Layout", f"{m.layout} "
         + ("(in, out / HWIO)" if m.layout == "flax" else "(out, in / OIHW)")),
        ("sha256", m.sha256), ("Parameters", fmt.integer(m.n_params)),
        ("Tensors", fmt.integer(m.n_tensors)), ("Size on disk", fmt.nbytes(m.size_bytes)),
        ("dtypes", dtypes), ("reportgen", a.reportgen_version),
    )


def _overview_table(a: Analysis) -> Table:
    rows = []
    for i, t in enumerate(a.tensors):
        s = t.stats
        rows.append((
            Cell(t.name, href="#" + anchor(i)), Cell(fmt.shape(t.shape)), Cell(t.dtype), Cell(t.role),
            Cell(fmt.integer(t.n_params), sort=t.n_params),
            Cell(fmt.num(s.mean) if s else "—", sort=s.mean if s else None),
            Cell(fmt.num(s.std) if s else "—", sort=s.std if s else None),
            Cell(fmt.num(s.frobenius_norm) if s else "—", sort=s.frobenius_norm if s else None),
        ))
    return Table(headers=("Tensor", "Shape", "dtype", "Role", "Params", "Mean", "Std", "‖W‖F"),
                 rows=tuple(rows), numeric=(False, False, False, False, True, True, True, True),
                 id="tensor-table")


def _param_charts(a: Analysis) -> tuple[BarChart, BarChart]:
    by_role = OrderedDict((r, 0) for r in ROLES)
    blocks: OrderedDict[str, dict[str, int]] = OrderedDict()
    for t in a.tensors:
        by_role[t.role] += t.n_params
        blocks.setdefault(block_of(t.name), {}).setdefault(t.role, 0)
        blocks[block_of(t.name)][t.role] += t.n_params
    roles = [r for r, n in by_role.items() if n]
    role_chart = BarChart(
        id="params-by-role", title="Parameters by role", labels=tuple(roles),
        values=tuple(by_role[r] for r in roles), groups=tuple(roles), x_label="parameters",
        hover_values=tuple(fmt.integer(by_role[r]) for r in roles))
    labels, values, groups = [], [], []
    names = list(blocks)
    if len(names) > _MAX_BLOCKS:  # keep the chart readable; the table still lists every tensor
        rest = {}
        for b in names[_MAX_BLOCKS - 1:]:
            for role, n in blocks.pop(b).items():
                rest[role] = rest.get(role, 0) + n
        blocks[f"{len(names) - _MAX_BLOCKS + 1} more blocks"] = rest
    for block, counts in blocks.items():
        dominant = max(counts, key=counts.get)
        labels.append(block)
        values.append(sum(counts.values()))
        groups.append(dominant)
    block_chart = BarChart(
        id="params-by-block", title="Parameters by top-level block (coloured by its main role)",
        labels=tuple(labels), values=tuple(values), groups=tuple(groups), x_label="parameters",
        hover_values=tuple(fmt.integer(v) for v in values))
    return role_chart, block_chart


def _unit_labels(role: str) -> tuple[str, str]:
    """(row, column) axis labels of a unit matrix of this role."""
    if role == "embedding":
        return "token / position", "embedding dim"
    return "output unit", "input (channel-major, then kernel position)" if role == "conv" else "input"


def _views(i: int, t: TensorAnalysis) -> tuple[tuple, tuple[str, ...]]:
    figures: list = []
    captions: list[str] = []
    if t.histogram is not None:
        figures.append(HistogramChart(id=f"{anchor(i)}-hist", title="Distribution of weights",
                                      edges=t.histogram.edges, counts=t.histogram.counts))
    h = t.heatmap
    if h is not None:
        pooled = h.block_rows * h.block_cols > 1
        rows, cols = _unit_labels(t.role)
        figures.append(HeatmapChart(
            id=f"{anchor(i)}-heat", title=f"Weights as a matrix: {h.n_rows:,} {rows}s × {h.n_cols:,} {cols.split(' (')[0]}s",
            codes=h.codes, n_rows=h.n_rows, n_cols=h.n_cols, block_rows=h.block_rows, block_cols=h.block_cols,
            clip=h.clip, outliers=h.outliers, row_label=rows, col_label=cols))
        captions.append(
            "Heatmap: red = positive, blue = negative, white ≈ 0, yellow = NaN; colours saturate at "
            f"|w| = {fmt.num(h.clip)} (99.5th percentile of |cells|)"
            + (f", × marks the {len(h.outliers)} strongest cells beyond it" if h.outliers else "")
            + (f". Each cell is a {h.block_rows}×{h.block_cols} block, shown by its largest-|w| "
               "value with its sign." if pooled else ". One cell per weight."))
    f = t.filters
    if f is not None:
        n_shown = len(f.out_channels)
        of = f"{n_shown} of {f.n_out}" if n_shown < f.n_out else f"all {f.n_out}"
        if f.mode == "rgb":
            title, cap = (f"First-layer filters as RGB images ({of} output channels)",
                          "Each filter's three input channels shown as red, green and blue around mid-grey.")
        elif f.mode == "single":
            title, cap = (f"Spatial kernels ({of} output channels)", "One kernel per output channel.")
        else:
            k = len(f.in_channels[0]) if f.in_channels else 0
            title, cap = (f"Strongest input kernels per output channel ({of} shown)",
                          f"Rows: output channels; columns: their {k} input channels with the largest kernel "
                          "L2 norm, strongest first (hover names them).")
        if n_shown < f.n_out:
            cap += f" Shown: the {n_shown} output channels with the largest kernel norm."
        figures.append(FilterGrid(id=f"{anchor(i)}-filters", title=title, mode=f.mode, tiles=f.tiles,
                                  out_channels=f.out_channels, in_channels=f.in_channels, clip=f.clip))
        captions.append(f"{title}: {cap}" + (f" Diverging colours saturate at |w| = {fmt.num(f.clip)}."
                                             if f.mode != "rgb" else ""))
    return tuple(figures), tuple(captions)


def _depth_charts(a: Analysis) -> tuple[DepthChart, ...]:
    charts = []
    for title, roles, cid in (("Kernels along depth (dense, conv, embedding)", ("dense", "conv", "embedding"), "depth-kernels"),
                              ("Biases and norm parameters along depth", ("bias", "norm"), "depth-vectors")):
        picked = [(i, t) for i, t in enumerate(a.tensors) if t.role in roles and t.stats is not None]
        if len(picked) >= 2:
            charts.append(DepthChart(
                id=cid, title=title, names=tuple(t.name for _, t in picked), roles=tuple(t.role for _, t in picked),
                percentiles=tuple(t.stats.percentiles for _, t in picked), anchors=tuple(anchor(i) for i, _ in picked)))
    return tuple(charts)


def _tensor_section(i: int, t: TensorAnalysis, n_alerts: int) -> TensorSection:
    facts: list[tuple[str, str]] = []
    s = t.stats
    if s is not None:
        facts += [("mean", fmt.num(s.mean)), ("std", fmt.num(s.std)), ("min", fmt.num(s.min)),
                  ("max", fmt.num(s.max)), ("mean |w|", fmt.num(s.abs_mean)), ("rms", fmt.num(s.rms)),
                  ("‖W‖F", fmt.num(s.frobenius_norm)), ("excess kurtosis", fmt.num(s.kurtosis)),
                  ("exactly zero", fmt.percent(s.sparsity)),
                  ("|w| < 1e-3·max|w|", fmt.percent(s.near_zero_fraction)),
                  ("NaN / Inf", f"{fmt.integer(s.nan_count)} / {fmt.integer(s.inf_count)}")]
        facts += [(f"p{q}", fmt.num(v)) for q, v in zip(PERCENTILES, s.percentiles)]
    u = t.units
    if u is not None:
        facts += [("units × fan-in", f"{u.n_units:,} × {u.fan_in:,}"), ("dead units", fmt.integer(len(u.dead))),
                  ("near-duplicate pairs", fmt.integer(len(u.duplicates))
                   + ("" if u.duplicates_checked == u.n_units else f" (of {u.duplicates_checked:,} sampled)"))]
    facts += spectral_facts(t)
    figures, captions = _views(i, t)
    esd = spectral_figure(anchor(i), t)
    if esd is not None:  # after the heatmap, before the filters: the page grid stacks it under the histogram
        at = sum(1 for f in figures if not isinstance(f, FilterGrid))
        figures, captions = (*figures[:at], esd[0], *figures[at:]), (*captions, esd[1])
    neuron_map = neuron_map_figure(anchor(i), t)
    if neuron_map is not None:
        figures, captions = (*figures, neuron_map[0]), (*captions, neuron_map[1])
    notes = t.notes + ((f"Spectral analysis: not analysed, {t.spectral_skipped}.",) if t.spectral_skipped else ())
    return TensorSection(
        anchor=anchor(i), name=t.name, role=t.role,
        summary=f"{t.role} · {fmt.shape(t.shape)} · {t.dtype} · {fmt.integer(t.n_params)} params",
        facts=tuple(facts), notes=notes, errors=t.errors, figures=figures, captions=captions,
        n_alerts=n_alerts)


def _footer(a: Analysis, timings: bool) -> str:
    if not timings:
        return f"reportgen {a.reportgen_version}"
    t = a.timings
    return (f"reportgen {a.reportgen_version} · load {fmt.seconds(t.load_s)} · statistics "
            f"{fmt.seconds(t.stats_s)} · spectral {fmt.seconds(t.spectral_s)} · neuron maps "
            f"{fmt.seconds(t.projection_s)} · saliency {fmt.seconds(t.saliency_s)} · circuits {fmt.seconds(t.circuits_s)} · bias {fmt.seconds(t.bias_s)} · "
            f"importance, training log and diff {fmt.seconds(t.training_s)} · "
            f"{t.compile_count} compilations, {fmt.seconds(t.compile_s)}" + (f" · on {t.device}" if t.device else ""))


def build_report(a: Analysis, timings: bool = False) -> Report:
    index = {t.name: i for i, t in enumerate(a.tensors)}
    alerts = tuple(AlertItem(severity=al.severity, kind=al.kind, title=ALERT_KINDS[al.kind][0],
                             tensor=al.tensor, anchor=anchor(index[al.tensor]) if al.tensor in index else None,
                             message=al.message, why=ALERT_KINDS[al.kind][1]) for al in a.alerts)
    per_tensor = Counter(al.tensor for al in a.alerts)
    role_chart, block_chart = _param_charts(a)
    n_err = sum(al.severity == "error" for al in a.alerts)
    n_warn = sum(al.severity == "warning" for al in a.alerts)
    cards = (("Parameters", fmt.compact(a.model.n_params)), ("Tensors", fmt.integer(a.model.n_tensors)),
             ("Size", fmt.nbytes(a.model.size_bytes)), ("Alerts", f"{fmt.count(n_err, 'error')} · {fmt.count(n_warn, 'warning')}"))
    sections = [Section(id="model-charts", title="Where the parameters are",
                        intro="Parameter counts by tensor role and by top-level block.",
                        figures=(role_chart, block_chart))]
    depth = _depth_charts(a)
    if depth:
        sections.append(Section(
            id="distributions", title="Distributions along depth",
            intro="Each tensor's weight percentiles in file order: whiskers p1–p99, boxes p25–p75, "
                  "tick at the median. Look for layers whose spread breaks the trend.", figures=depth))
    if "spectral" in a.sections:
        sections.append(spectral_section(a, anchor))
    if "projections" in a.sections:
        sections.append(maps_section(a, anchor))
    if "saliency" in a.sections:
        why = next((n for n in a.notes if n.startswith("Saliency")),
                   "No model was given (--model MODULE:FACTORY), so there is nothing to attribute.")
        sections.append(saliency_section(a.saliency, why))
    href = lambda name: "#" + anchor(index[name]) if name in index else None  # noqa: E731
    if "circuits" in a.sections:
        why = next((n for n in a.notes if n.startswith("Circuits")),
                   "No model was given (--model MODULE:FACTORY), so there are no layers to connect.")
        sections.append(circuits_section(a.circuits, why, href))
    if "bias" in a.sections:
        why = next((n for n in a.notes if n.startswith("Bias audit")),
                   "No model was given (--model MODULE:FACTORY), so there are no predictions to audit.")
        sections.append(bias_section(a.bias, why, href))
    why = next((n for n in a.notes if n.startswith("Per-class importance")), None)
    if "importance" in a.sections and (a.importance is not None or why):
        sections.append(importance_section(a.importance, why or "", href))
    if "training" in a.sections and a.training is not None:
        sections.append(training_section(a.training, href))
    if "diff" in a.sections and a.diff is not None:
        roles = {t.name: t.role for t in a.tensors}
        sections.append(diff_section(a.diff, href, lambda name: _unit_labels(roles.get(name, "dense"))))
    return Report(
        title=f"reportgen · {a.model.source}",
        identity=_identity(a), cards=cards, alerts=alerts, overview=_overview_table(a),
        sections=tuple(sections),
        tensors=tuple(_tensor_section(i, t_, per_tensor[t_.name]) for i, t_ in enumerate(a.tensors)),
        methods=METHODS, notes=a.notes,
        footer=_footer(a, timings),
    )
