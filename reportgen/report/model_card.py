"""A Markdown summary for a Hugging Face model card's "Model Examination" section."""
from __future__ import annotations

import re
import statistics

from ..types import Analysis
from . import fmt
from .methods import ALERT_KINDS

_UNSAFE = re.compile(r"([\\`*_{}\[\]<>|#!~])")


def _md(text: str) -> str:
    """Untrusted text (tensor names, messages) with Markdown and HTML syntax escaped, on one line."""
    return _UNSAFE.sub(r"\\\1", " ".join(str(text).split()))


def _spectral_row(a: Analysis) -> str | None:
    alphas = [t.spectral.alpha for t in a.tensors if t.spectral is not None and t.spectral.alpha == t.spectral.alpha]
    if not alphas:
        return None
    low = sum(x < 2 for x in alphas)
    high = sum(x > 6 for x in alphas)
    return (f"median α {statistics.median(alphas):.2f} over {len(alphas)} matrices; {low} below 2 (over-trained), "
            f"{high} above 6 (under-trained)")


def _saliency_row(a: Analysis) -> str | None:
    s = a.saliency
    if s is None:
        return None
    from .saliency import METHOD_LABELS

    parts = [f"{', '.join(METHOD_LABELS[m.method] for m in s.methods)} on {len(s.examples):,} inputs"]
    if s.completeness is not None:
        c = s.completeness
        parts.append(f"Integrated Gradients completeness error ≤ {fmt.percent(float(c.rel_errors.max()))} "
                     f"at {c.steps} steps")
    if s.input_kind == "tabular" and s.methods:
        ref = next((m for m in s.methods if m.method == "integrated_gradients"), s.methods[-1])
        top = sorted(range(len(s.feature_names)), key=lambda i: -ref.mean_abs[i])[:3]
        parts.append("strongest features: " + ", ".join(_md(s.feature_names[i]) for i in top))
    return "; ".join(parts)


def _circuits_row(a: Analysis) -> str | None:
    c = a.circuits
    if c is None:
        return None
    parts = [f"{len(c.layers)} layers, expanded weights for {len(c.expanded)} layer pairs"]
    if c.factors:
        parts.append(f"{c.factors[0].factors.shape[0]}-factor NMF explains " + ", ".join(f"{fmt.percent(f.explained)} ({_md(f.target)})"
                                                        for f in c.factors))
    return "; ".join(parts)


def _bias_row(a: Analysis) -> str | None:
    b = a.bias
    if b is None:
        return None
    flagged = f"flagged: {', '.join(_md(f) for f in b.flagged)}" if b.flagged else "no sensitive feature flagged"
    return (f"'{_md(b.positive_class)}' rate gap between groups {fmt.percent(b.parity_gap)}; {flagged} "
            f"(flip rate {', '.join(fmt.percent(f) for f in b.flip_rate)})")


def model_card(a: Analysis, report_name: str | None = None) -> str:
    m = a.model
    n_err = sum(al.severity == "error" for al in a.alerts)
    n_warn = sum(al.severity == "warning" for al in a.alerts)
    dead = sum(len(t.units.dead) for t in a.tensors if t.units is not None)
    dup = sum(len(t.units.duplicates) for t in a.tensors if t.units is not None)
    rows = [("Parameters", f"{fmt.integer(m.n_params)} in {fmt.integer(m.n_tensors)} tensors ({_md(m.format)}, "
                           f"{m.layout} layout)"),
            ("Weights file sha256", f"`{m.sha256}`"),
            ("Alerts", f"{fmt.count(n_err, 'error')}, {fmt.count(n_warn, 'warning')}"),
            ("Dead / near-duplicate units", f"{dead} / {dup}")]
    for label, row in (("Spectral health (WeightWatcher α)", _spectral_row(a)), ("Saliency", _saliency_row(a)),
                       ("Circuits", _circuits_row(a)), ("Bias audit", _bias_row(a))):
        if row is not None:
            rows.append((label, row))
    where = f"; the full report is {_md(report_name)}" if report_name else ""
    lines = ["## Model Examination", "",
             f"*Weights examined with reportgen {a.reportgen_version}{where}.*", "",
             "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    if a.alerts:
        lines += ["### Alerts", ""]
        for al in a.alerts:
            where = f" · {_md(al.tensor)}" if al.tensor else ""
            lines.append(f"- **{al.severity}** · {_md(ALERT_KINDS[al.kind][0])}{where}: {_md(al.message)}")
        lines.append("")
    return "\n".join(lines)
