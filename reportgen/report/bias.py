"""Build the bias-audit section: outcomes per group, the sensitive features' influence, the units behind it."""
from __future__ import annotations

import math
from typing import Callable

from ..types import BiasAudit
from . import fmt
from .structure import Cell, FeatureBars, Section, Table


def _rate(x: float) -> Cell:
    return Cell("—" if math.isnan(x) else fmt.percent(x), sort=None if math.isnan(x) else x)


def _groups_table(a: BiasAudit) -> Table:
    rows = tuple((Cell(r.group), Cell(fmt.integer(r.n), sort=r.n), _rate(r.positive_rate), _rate(r.accuracy),
                  _rate(r.tpr), _rate(r.fpr)) for r in a.groups)
    return Table(headers=("Group", "examples", f"predicted {a.positive_class}", "accuracy", "TPR", "FPR"),
                 rows=rows, numeric=(False, True, True, True, True, True), id="bias-groups")


def _weights(values: tuple[float, ...], outputs: tuple[str, ...]) -> str:
    return " · ".join(f"{o} {v:+.3g}" for o, v in zip(outputs, values)) or "—"


def _features_table(a: BiasAudit, outputs: tuple[str, ...], href: Callable[[str | None], str | None]) -> Table:
    rows = []
    for name, rank, flip, kind, expanded in zip(a.sensitive, a.sensitive_rank, a.flip_rate, a.counterfactual,
                                                a.expanded):
        share = a.attribution_share[a.feature_names.index(name)]
        rows.append((Cell(name), Cell(f"{rank} of {len(a.feature_names)}", sort=rank), Cell(fmt.percent(share), sort=share),
                     Cell(f"{fmt.percent(flip)} ({kind})", sort=flip), Cell(_weights(expanded, outputs)),
                     Cell("flagged" if name in a.flagged else "no"),
                     Cell(a.input_tensor or "—", href=href(a.input_tensor))))
    return Table(headers=("Sensitive feature", "attribution rank", "share", "predictions changed",
                          "linearised weight to outputs", "alert", "first-layer weights"),
                 rows=tuple(rows), numeric=(False, True, True, True, False, False, False), id="bias-features")


def _units_table(a: BiasAudit, outputs: tuple[str, ...], href: Callable[[str | None], str | None]) -> Table:
    rows = []
    for u in a.units:
        gap = u.gap_after_ablation
        change = "—" if math.isnan(gap) else f"{fmt.percent(gap)} ({(gap - a.parity_gap) * 100:+.1f} pts)"
        rows.append((Cell(f"{u.layer} unit {u.unit}", href=href(u.tensor)), Cell(f"{u.effect_size:+.2f}", sort=u.effect_size),
                     Cell(_weights(u.out_weights, outputs)), Cell(change, sort=None if math.isnan(gap) else gap),
                     Cell(u.tensor or "—", href=href(u.tensor))))
    return Table(headers=("Hidden unit", "effect size", "weight to outputs", "parity gap without it", "weights tensor"),
                 rows=tuple(rows), numeric=(False, True, False, True, False), id="bias-units")


def bias_section(a: BiasAudit | None, note: str, href: Callable[[str | None], str | None]) -> Section:
    if a is None:
        return Section(id="bias", title="Bias audit", intro=note)
    outputs = a.output_names
    low = min(a.groups, key=lambda r: r.positive_rate)
    verdict = (f"Alert: {', '.join(a.flagged)} both ranks among the top 3 features and changes predictions when "
               "flipped." if a.flagged else "No sensitive feature is both a top-3 driver and a counterfactual "
                                            "flip above the threshold.")
    intro = (f"Who gets '{a.positive_class}', over {a.n_examples:,} examples: positive-rate gap between groups "
             f"(demographic parity difference) {fmt.percent(a.parity_gap)}, equalised-odds difference "
             f"{fmt.num(a.equalised_odds_gap, 3) if not math.isnan(a.equalised_odds_gap) else '— (no labels)'}. "
             f"{verdict} Attribution shares are Integrated Gradients towards '{a.positive_class}' (zeros baseline); "
             f"the counterfactual flips a two-valued sensitive feature (or permutes it) and counts changed "
             f"predictions; the linearised weights are the {a.expanded_method}.")
    order = sorted(range(len(a.feature_names)), key=lambda i: -a.attribution_share[i])
    shares = FeatureBars(
        id="bias-shares", title=f"Share of mean |IG| towards '{a.positive_class}' (sensitive features starred)",
        features=tuple(f"{a.feature_names[i]} ★" if a.feature_names[i] in a.sensitive else a.feature_names[i]
                       for i in order),
        methods=("Integrated Gradients",), shares=(tuple(a.attribution_share[i] for i in order),))
    extra = [("The sensitive features: their rank among all features by attribution, the share of predictions "
              "a counterfactual changes, and their linearised weights to each output.", _features_table(a, outputs, href))]
    if a.units:
        extra.append((f"Hidden units whose activation best separates group {low.group} (the lowest positive rate) "
                      "from the rest: standardised mean difference (effect size), their linearised weights to the "
                      "outputs, and the parity gap when the unit's incoming weights and bias are zeroed. Rows link "
                      "to the weights that compute them.", _units_table(a, outputs, href)))
    return Section(id="bias", title="Bias audit", intro=intro + "".join(f" {n}" for n in a.notes),
                   figures=(shares,), table=_groups_table(a), table_intro="Outcomes and errors per group.",
                   extra_tables=tuple(extra))
