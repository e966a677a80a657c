"""Build the training sections: dynamics from a recorder log, a checkpoint diff, per-class importance."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..types import CheckpointDiff, ClassImportance, Training
from . import fmt
from .structure import Cell, HeatmapChart, LineChart, MatrixChart, Section, StepHistChart, Table

Href = Callable[[str | None], str | None]
MAX_HIST_TENSORS = 8  # distributions over time: the largest tensors, two views each
MAX_DIFF_HEATMAPS = 8  # ΔW heatmaps: the tensors that moved most
RATIO_REFERENCE = 1e-3  # the update/param ratio rule of thumb (Karpathy): well-tuned layers sit near it


def _num(x: float | None, digits: int = 3) -> Cell:
    if x is None or not math.isfinite(x):
        return Cell("—")
    return Cell(fmt.num(x, digits), sort=x)


def training_section(t: Training, href: Href) -> Section:
    log = t.log
    steps = log.steps
    labels = tuple(d.tensor or d.name for d in t.tensors)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = log.update_norm / log.param_norm
    figures: list = [LineChart(id="train-loss", title="Loss and metrics over training", x=steps,
                               series=(("loss", log.loss), *log.metrics), y_label="value")]
    figures.append(LineChart(id="train-grad", title="Gradient norm per tensor (log scale)", x=steps,
                             series=tuple(zip(labels, log.grad_norm.T)), y_label="‖∇w‖", log_y=True))
    figures.append(LineChart(id="train-weight", title="Weight norm per tensor (log scale)", x=steps,
                             series=tuple(zip(labels, log.param_norm.T)), y_label="‖w‖", log_y=True))
    if np.isfinite(ratio).any():
        figures.append(LineChart(id="train-ratio", title="Update / weight norm per step (dashed: 1e-3)", x=steps,
                                 series=tuple(zip(labels, ratio.T)), y_label="‖Δw‖ / ‖w‖", log_y=True,
                                 reference=RATIO_REFERENCE))
    sizes = log.param_hist[0].sum(axis=1)
    for k, ti in enumerate(sorted(np.argsort(-sizes, kind="stable")[:MAX_HIST_TENSORS])):
        figures.append(StepHistChart(id=f"train-ghist-{k}", title=f"Gradients of {labels[ti]} over time",
                                     steps=steps, edges=log.grad_edges[ti], counts=log.grad_hist[:, ti],
                                     value_label="gradient"))
        figures.append(StepHistChart(id=f"train-whist-{k}", title=f"Weights of {labels[ti]} over time",
                                     steps=steps, edges=log.param_edges[ti], counts=log.param_hist[:, ti],
                                     value_label="weight"))
    rows = tuple((Cell(d.tensor or d.name, href=href(d.tensor)), _num(d.final_param_norm), _num(d.final_grad_norm),
                  _num(d.late_rel_grad), _num(d.late_update_ratio), _num(d.grad_growth),
                  Cell(fmt.percent(d.final_zero_grad_fraction), sort=d.final_zero_grad_fraction))
                 for d in t.tensors)
    table = Table(headers=("Tensor", "final ‖w‖", "final ‖∇w‖", "late ‖∇w‖/‖w‖", "late ‖Δw‖/‖w‖",
                           "gradient growth", "zero gradients"),
                  rows=rows, numeric=(False, True, True, True, True, True, True), id="training-tensors")
    intro = (f"From {log.source}: {len(steps):,} records (every {log.every} step{'s' * (log.every != 1)}, steps "
             f"{int(steps[0]):,}–{int(steps[-1]):,}) of {len(log.names)} tensors. Norms are per tensor; the update "
             f"ratio ‖Δw‖/‖w‖ of a healthy layer sits near {RATIO_REFERENCE:g} (dashed). Distributions over time "
             "show each record's histogram as a column (bins fixed at the first record, ±2x its largest |value|, "
             "or the widest other tensor's range for one that starts at zero; colour = log count). "
             "'Late' is the median over the last quarter of the records; gradient growth is the largest gradient "
             "norm over the median of the first tenth.")
    return Section(id="training", title="Training dynamics", intro=intro + "".join(f" {n}" for n in t.notes),
                   figures=tuple(figures), table=table, table_intro="Per tensor, where training left it.")


def _delta(before: float | None, after: float | None) -> Cell:
    if before is None or after is None or not (math.isfinite(before) and math.isfinite(after)):
        return Cell("—")
    return Cell(f"{fmt.num(before, 3)} → {fmt.num(after, 3)}", sort=after - before)


def diff_section(d: CheckpointDiff, href: Href, units: Callable[[str], tuple[str, str]]) -> Section:
    rows = tuple((Cell(t.name, href=href(t.name)), Cell(fmt.num(t.rel_change, 3), sort=t.rel_change),
                  _num(t.cosine, 6), Cell(fmt.num(t.max_abs_change, 3), sort=t.max_abs_change),
                  Cell("—" if t.delta_rank is None else fmt.integer(t.delta_rank), sort=t.delta_rank),
                  Cell("—" if t.energy_rank is None else fmt.integer(t.energy_rank), sort=t.energy_rank),
                  _delta(t.alpha_before, t.alpha_after), _delta(t.log_norm_before, t.log_norm_after))
                 for t in d.tensors)
    table = Table(headers=("Tensor", "‖ΔW‖/‖W‖", "cosine", "max |Δw|", "rank of ΔW", "90% energy rank",
                           "alpha", "log norm"),
                  rows=rows, numeric=(False, True, True, True, True, True, True, True), id="diff-tensors")
    figures = []
    moved = sorted((t for t in d.tensors if t.heatmap is not None and t.rel_change > 0), key=lambda t: -t.rel_change)
    for k, t in enumerate(moved[:MAX_DIFF_HEATMAPS]):
        h = t.heatmap
        rows_label, cols_label = units(t.name)
        figures.append(HeatmapChart(
            id=f"diff-heat-{k}", title=f"ΔW of {t.name} (‖ΔW‖/‖W‖ = {fmt.num(t.rel_change, 3)}, rank {t.delta_rank})",
            codes=h.codes, n_rows=h.n_rows, n_cols=h.n_cols, block_rows=h.block_rows, block_cols=h.block_cols,
            clip=h.clip, outliers=h.outliers, row_label=rows_label, col_label=cols_label))
    same = sum(t.rel_change == 0 for t in d.tensors)
    parts = [f"This checkpoint against {d.other}: {len(d.tensors)} tensors in both, {same} of them unchanged."]
    for what, names in (("Only in this checkpoint", d.only_here), ("Only in the compared one", d.only_there)):
        if names:
            parts.append(f"{what} ({len(names)}): {', '.join(names[:12])}{' …' if len(names) > 12 else ''}.")
    if d.mismatched:
        parts.append("Shapes differ: " + "; ".join(f"{n} {list(a)} here vs {list(b)}" for n, a, b in d.mismatched[:8])
                     + ".")
    parts.append("The rank of ΔW counts singular values above 1e-3 of the largest (a LoRA-style fine-tune of rank r "
                 "shows r); the 90% energy rank is the fewest directions holding 90% of ‖ΔW‖². Heatmaps of ΔW use "
                 "the weight heatmaps' conventions, for the tensors that moved most.")
    return Section(id="diff", title="Checkpoint diff", intro=" ".join(parts), figures=tuple(figures), table=table,
                   table_intro="Per tensor, sortable; alpha and log norm from the compared checkpoint to this one.")


def importance_section(c: ClassImportance | None, note: str, href: Href) -> Section:
    if c is None:
        return Section(id="importance", title="Which weights matter for which class", intro=note)
    with np.errstate(divide="ignore", invalid="ignore"):
        taylor = np.nan_to_num(c.taylor / c.taylor.sum(axis=0, keepdims=True))
        fisher = np.nan_to_num(c.fisher / c.fisher.sum(axis=0, keepdims=True))
    figures = (MatrixChart(id="imp-taylor", title="Share of each class's Taylor importance Σ|w·∂L/∂w|", values=taylor,
                           rows=c.tensors, cols=c.classes, value_label="share", col_label="class"),
               MatrixChart(id="imp-fisher", title="Share of each class's diagonal Fisher Σ E[(∂ℓ/∂w)²]", values=fisher,
                           rows=c.tensors, cols=c.classes, value_label="share", col_label="class"))
    rows = tuple((Cell(c.classes[k]), Cell(f"{name} unit {u}", href=href(name)), Cell(fmt.percent(share), sort=share))
                 for k, name, u, share in c.top_units)
    table = Table(headers=("Class", "unit", "share of the class's importance"), rows=rows,
                  numeric=(False, False, True), id="importance-units")
    intro = ("For each class k, the loss L_k is the mean cross-entropy of its examples "
             f"(examples per class: {', '.join(f'{k}: {n}' for k, n in zip(c.classes, c.n_examples))}). Taylor importance "
             "|w·∂L_k/∂w| estimates how much L_k would change if the weight were removed; the diagonal empirical "
             "Fisher averages each example's squared gradient. Both are summed per tensor and shown as shares of "
             "the class's total (columns sum to 1), and per output unit (its incoming weights) in the table.")
    return Section(id="importance", title="Which weights matter for which class",
                   intro=intro + "".join(f" {n}" for n in c.notes), figures=figures, table=table,
                   table_intro="The units that matter most for each class, by Taylor importance.")
