"""Build the saliency section: per-example tiles, class means, feature rankings, IG completeness."""
from __future__ import annotations

import numpy as np

from ..analysis.saliency_phase import channels_last
from ..types import Attribution, Saliency
from . import fmt
from .structure import AttributionGrid, AttributionStrip, Cell, FeatureBars, Section, Table

METHOD_LABELS = {"gradient": "Gradient", "gradient_x_input": "Gradient × input", "smoothgrad": "SmoothGrad",
                 "integrated_gradients": "Integrated Gradients"}
MAX_CLASSES = 20  # class-mean tiles shown; the sidecar has them all


def _target_text(s: Saliency) -> str:
    return {"predicted": "predicted class's", "label": "true class's"}.get(s.target_mode, f"{s.target_mode}'s")


def completeness_text(s: Saliency) -> str:
    c = s.completeness
    if c is None:
        return ""
    err = c.rel_errors
    tried = "; ".join(f"{steps} steps: {fmt.percent(e)}" for steps, e in c.ladder)
    verdict = (f"within the {fmt.percent(c.tolerance)} tolerance at {c.steps} steps" if c.reached else
               f"not within the {fmt.percent(c.tolerance)} tolerance even at {c.steps} steps")
    return (f"Integrated Gradients completeness (Σ attributions vs f(x) − f(baseline), {s.baseline} baseline): "
            f"largest error {fmt.percent(float(err.max()))}, median {fmt.percent(float(np.median(err)))}, "
            f"{verdict} (tried {tried}).")


def _row_label(s: Saliency, pos: int, details: bool = False) -> str:
    i = int(s.examples[pos])
    label = f" · label {s.class_names[s.labels[pos]]}" if s.labels is not None else ""
    text = f"#{i}{label} · pred {s.class_names[s.predictions[pos]]}"
    if details and s.completeness is not None:
        text += f" · IG completeness error {fmt.percent(float(s.completeness.rel_errors[pos]))}"
    return text


def _image_figures(s: Saliency) -> tuple:
    names = [METHOD_LABELS[m.method] for m in s.methods]
    maps = np.stack([m.maps for m in s.methods], axis=1)  # [shown, methods, H, W]
    columns, labels = [("input", -1)], ["input"]
    for k, name in enumerate(names):
        columns += [("signed", k), ("overlay", k)]
        labels += [name, name]  # one header over the pair; the figure adds "signed" / "overlay"
    examples = AttributionGrid(
        id="saliency-examples", title=f"Attributions for {len(s.shown)} examples, every method side by side",
        maps=maps, columns=tuple(columns), col_labels=tuple(labels),
        row_labels=tuple(_row_label(s, int(p)) for p in s.shown),
        row_details=tuple(_row_label(s, int(p), details=True) for p in s.shown), inputs=channels_last(s.inputs_shown))
    n_classes = min(len(s.class_names), MAX_CLASSES)
    means = np.stack([m.class_means[:n_classes] for m in s.methods])  # [methods, classes, H, W]
    classes = AttributionGrid(
        id="saliency-classes", title="Mean signed attribution per target class",
        maps=means, columns=tuple(("signed", c) for c in range(n_classes)),
        col_labels=tuple(s.class_names[:n_classes]), row_labels=tuple(names), clip="row")
    return examples, classes


def _reference(s: Saliency) -> Attribution:
    """The method features are ranked by: Integrated Gradients when it ran (it is complete)."""
    return next((m for m in s.methods if m.method == "integrated_gradients"), s.methods[-1])


def _shares(mean_abs: np.ndarray) -> np.ndarray:
    total = float(mean_abs.sum())
    return mean_abs / total if total > 0 else np.zeros_like(mean_abs)


def _rank01(values: np.ndarray) -> np.ndarray:
    """Each column's values as ranks in [0, 1] (ties share their mean rank)."""
    from scipy.stats import rankdata

    n = len(values)
    return (rankdata(values, axis=0) - 1) / max(n - 1, 1)


def _tabular(s: Saliency) -> tuple[tuple, Table]:
    ref = _reference(s)
    order = np.argsort(-ref.mean_abs, kind="stable")
    features = tuple(s.feature_names[i] for i in order)
    bars = FeatureBars(id="saliency-features", title="Share of mean |attribution| per feature",
                       features=features, methods=tuple(METHOD_LABELS[m.method] for m in s.methods),
                       shares=tuple(tuple(float(v) for v in _shares(m.mean_abs)[order]) for m in s.methods))
    values = s.feature_values[:, order]
    rank = _rank01(values)
    strips = tuple(AttributionStrip(id=f"saliency-strip-{m.method}", title=f"{METHOD_LABELS[m.method]}: per example",
                                    features=features, attributions=m.maps[:, order], value_rank=rank, values=values,
                                    examples=s.examples)
                   for m in s.methods)
    rows = []
    for rank_, i in enumerate(order, 1):
        shares = [float(_shares(m.mean_abs)[i]) for m in s.methods]
        rows.append((Cell(s.feature_names[i]), Cell(str(rank_), sort=rank_),
                     *(Cell(fmt.percent(v), sort=v) for v in shares),
                     Cell(fmt.num(float(ref.mean_abs[i])), sort=float(ref.mean_abs[i]))))
    table = Table(headers=("Feature", "rank", *(f"{METHOD_LABELS[m.method]} share" for m in s.methods),
                           f"mean |{METHOD_LABELS[ref.method]}|"),
                  rows=tuple(rows), numeric=(False, True, *(True,) * len(s.methods), True), id="saliency-table")
    return (bars, *strips), table


def _sequence(s: Saliency) -> tuple:
    maps = np.stack([m.maps for m in s.methods], axis=1)[:, :, None, :]  # [shown, methods, 1, T]
    return (AttributionGrid(
        id="saliency-sequences", title=f"Per-position attributions for {len(s.shown)} examples",
        maps=maps, columns=tuple(("signed", k) for k in range(len(s.methods))),
        col_labels=tuple(METHOD_LABELS[m.method] for m in s.methods),
        row_labels=tuple(_row_label(s, int(p)) for p in s.shown),
        row_details=tuple(_row_label(s, int(p), details=True) for p in s.shown)),)


def saliency_section(s: Saliency | None, note: str) -> Section:
    if s is None:
        return Section(id="saliency", title="Saliency", intro=note)
    methods = ", ".join(METHOD_LABELS[m.method] for m in s.methods)
    how = {
        "image": "Red pixels raise the logit, blue ones lower it; the overlay blends the attribution over the "
                 "input (lightened; dark-background images inverted, so ink shows grey on white) with opacity "
                 "growing with |attribution|, so it shows where on the input the evidence is. Each tile's colours saturate at its own 99th percentile of |attribution|; the class "
                 "means share one scale per method.",
        "tabular": "The bars rank features by their share of the mean |attribution|; in the strips each point "
                   "is one example, placed by its attribution and coloured by the feature's value (blue low, "
                   "red high), so a trend in colour along x shows how the feature pushes the output.",
        "sequence": "One strip per example and method, one cell per position: red positions raise the logit, "
                    "blue ones lower it.",
    }[s.input_kind]
    intro = (f"Which inputs move the model's output: the {_target_text(s)} logit differentiated with respect "
             f"to {len(s.examples):,} of the {s.n_inputs:,} inputs by {methods} "
             f"(SmoothGrad: {s.smoothgrad_samples} samples, noise σ = {fmt.percent(s.smoothgrad_noise)} of the "
             f"input range). {how} {completeness_text(s)}" + "".join(f" {n}" for n in s.notes))
    if s.input_kind == "image":
        return Section(id="saliency", title="Saliency", intro=intro, figures=_image_figures(s))
    if s.input_kind == "tabular":
        figures, table = _tabular(s)
        return Section(id="saliency", title="Saliency", intro=intro, figures=figures, table=table,
                       table_intro=f"Features ranked by {METHOD_LABELS[_reference(s).method]}' mean |attribution|. "
                                   "Click a column to sort.")
    return Section(id="saliency", title="Saliency", intro=intro, figures=_sequence(s))
