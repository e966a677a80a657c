"""Build the spectral-health parts of the report: depth charts, the metrics table, per-tensor ESDs."""
from __future__ import annotations

import math
from typing import Callable

from ..types import Analysis, TensorAnalysis
from . import fmt
from .structure import Cell, EsdChart, MetricChart, Section, Table

HEALTHY_ALPHA = (2.0, 6.0)  # WeightWatcher's range for well-trained layers

_COLUMNS: tuple[tuple[str, str], ...] = (  # (header, Spectral field)
    ("α", "alpha"), ("D", "D"), ("xmin", "xmin"), ("α̂ = α·log λmax", "alpha_weighted"),
    ("log ‖W‖F²", "log_norm"), ("log λmax", "log_spectral_norm"), ("stable rank", "stable_rank"),
    ("entropy", "entropy"), ("rank", "matrix_rank"), ("PL tail", "num_pl_spikes"),
    ("MP λ+", "bulk_max"), ("MP spikes", "num_spikes"), ("MP soft rank", "mp_softrank"),
)
_CHARTS: tuple[tuple[str, str, str, bool], ...] = (  # (field, title, y label, healthy band)
    ("alpha", "Power-law exponent α along depth (green: healthy 2–6)", "α", True),
    ("alpha_weighted", "Weighted alpha α̂ = α·log10 λmax", "α̂", False),
    ("log_norm", "log10 ‖W‖F² (sum of eigenvalues)", "log norm", False),
    ("stable_rank", "Stable rank ‖W‖F² / λmax", "stable rank", False),
)


def _status(t: TensorAnalysis) -> str:
    sp = t.spectral
    if sp is None:
        return f"not analysed: {t.spectral_skipped}"
    if not math.isfinite(sp.alpha):
        return "no power-law fit"
    if sp.alpha < HEALTHY_ALPHA[0]:
        return "over-trained (α < 2)"
    if sp.alpha > HEALTHY_ALPHA[1]:
        return "under-trained (α > 6)"
    return "ok"


def _cell(value: float | int) -> Cell:
    if isinstance(value, int):
        return Cell(fmt.integer(value), sort=value)
    return Cell(fmt.num(value), sort=value if math.isfinite(value) else None)


def _table(rows: list[tuple[int, TensorAnalysis]], anchor: Callable[[int], str]) -> Table:
    body = []
    for i, t in rows:
        sp = t.spectral
        shape = "—" if sp is None else f"{sp.n_rows:,}×{sp.n_cols:,}" + (f" ×{sp.n_slices}" if sp.n_slices > 1 else "")
        values = [_cell(getattr(sp, f)) for _, f in _COLUMNS] if sp else [Cell("—") for _ in _COLUMNS]
        body.append((Cell(t.name, href="#" + anchor(i)), Cell(t.role), Cell(shape),
                     _cell(sp.num_evals) if sp else Cell("—"), *values, Cell(_status(t))))
    headers = ("Tensor", "Role", "N×M (×slices)", "eigenvalues", *(h for h, _ in _COLUMNS), "Status")
    numeric = (False, False, False, True, *(True for _ in _COLUMNS), False)
    return Table(headers=headers, rows=tuple(body), numeric=numeric, id="spectral-table")


def spectral_section(a: Analysis, anchor: Callable[[int], str]) -> Section:
    rows = [(i, t) for i, t in enumerate(a.tensors) if t.spectral is not None or t.spectral_skipped]
    done = [(i, t) for i, t in rows if t.spectral is not None]
    intro = ("The empirical spectral density (ESD) of every dense, conv and embedding kernel: the "
             "eigenvalues of WᵀW, with conv kernels cut into one (out × in) matrix per kernel position "
             "and their eigenvalues pooled, as WeightWatcher does. Well-trained layers have heavy-tailed "
             "ESDs with a power-law exponent α between 2 and 6; α above 6 looks random (under-trained), "
             "below 2 over-trained. Click a point to open its tensor.")
    if not rows:
        return Section(id="spectral", title="Spectral health",
                       intro="No dense, conv or embedding kernel in this model has a matrix to analyse.")
    charts = tuple(
        MetricChart(id=f"spectral-{field}", title=title, names=tuple(t.name for _, t in done),
                    roles=tuple(t.role for _, t in done),
                    values=tuple(float(getattr(t.spectral, field)) for _, t in done),
                    anchors=tuple(anchor(i) for i, _ in done), y_label=label,
                    band=HEALTHY_ALPHA if band else None)
        for field, title, label, band in _CHARTS) if len(done) >= 2 else ()
    skipped = len(rows) - len(done)
    return Section(
        id="spectral", title="Spectral health", intro=intro, figures=charts, table=_table(rows, anchor),
        table_intro=(f"{len(done)} of {len(rows)} matrices analysed"
                     + (f"; {skipped} not analysed, with the reason in the Status column." if skipped else ".")
                     + " Click a column to sort."))


def spectral_facts(t: TensorAnalysis) -> list[tuple[str, str]]:
    sp = t.spectral
    if sp is None:
        return []
    return [("ESD", f"{sp.num_evals:,} eigenvalues ({sp.method})"), ("α", fmt.num(sp.alpha)),
            ("KS distance D", fmt.num(sp.D)), ("xmin", fmt.num(sp.xmin)), ("λmax", fmt.num(sp.spectral_norm)),
            ("stable rank", fmt.num(sp.stable_rank)), ("MP bulk edge λ+", fmt.num(sp.bulk_max)),
            ("spikes beyond λ+", fmt.integer(sp.num_spikes))]


def spectral_figure(figure_id: str, t: TensorAnalysis) -> tuple[EsdChart, str] | None:
    sp = t.spectral
    if sp is None:
        return None
    positive = sum(sp.esd.counts)
    chart = EsdChart(id=f"{figure_id}-esd", title=f"ESD (log-log): α = {fmt.num(sp.alpha, 3)}, "
                     f"D = {fmt.num(sp.D, 3)}", edges=sp.esd.edges, counts=sp.esd.counts, alpha=sp.alpha,
                     xmin=sp.xmin, xmax=sp.xmax, tail_fraction=sp.num_pl_spikes / max(positive, 1),
                     bulk_max=sp.bulk_max)
    slices = f", {sp.n_slices} kernel positions pooled (each scaled by √½)" if sp.n_slices > 1 else ""
    caption = (f"ESD: eigenvalues of WᵀW for the {sp.n_rows:,}×{sp.n_cols:,} matrix{slices}; orange: the "
               f"power law fitted to the {sp.num_pl_spikes:,} eigenvalues ≥ xmin; grey dotted: the "
               "Marchenko-Pastur bulk edge λ+, beyond which eigenvalues carry learned structure."
               + (f" {sp.fit_note.capitalize()}." if sp.fit_note else ""))
    return chart, caption
