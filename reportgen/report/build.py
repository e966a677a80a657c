"""The build stage: Analysis -> Report (sections, tables, figure specs, alerts); no HTML here."""
from __future__ import annotations

import re
from collections import OrderedDict

from ..types import PERCENTILES, ROLES, Analysis, TensorAnalysis
from . import fmt
from .methods import METHODS
from .structure import AlertItem, BarChart, Cell, Report, Section, Table, TensorSection

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


def _tensor_section(i: int, t: TensorAnalysis) -> TensorSection:
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
    return TensorSection(
        anchor=anchor(i), name=t.name, role=t.role,
        summary=f"{t.role} · {fmt.shape(t.shape)} · {t.dtype} · {fmt.integer(t.n_params)} params",
        facts=tuple(facts), notes=t.notes, errors=t.errors)


def build_report(a: Analysis) -> Report:
    index = {t.name: i for i, t in enumerate(a.tensors)}
    alerts = tuple(AlertItem(severity=al.severity, kind=al.kind, tensor=al.tensor,
                             anchor=anchor(index[al.tensor]) if al.tensor in index else None,
                             message=al.message) for al in a.alerts)
    role_chart, block_chart = _param_charts(a)
    n_err = sum(al.severity == "error" for al in a.alerts)
    n_warn = sum(al.severity == "warning" for al in a.alerts)
    cards = (("Parameters", fmt.compact(a.model.n_params)), ("Tensors", fmt.integer(a.model.n_tensors)),
             ("Size", fmt.nbytes(a.model.size_bytes)), ("Alerts", f"{n_err} errors · {n_warn} warnings"))
    sections = (Section(id="model-charts", title="Where the parameters are",
                        intro="Parameter counts by tensor role and by top-level block.",
                        figures=(role_chart, block_chart)),)
    t = a.timings
    return Report(
        title=f"reportgen · {a.model.source}",
        identity=_identity(a), cards=cards, alerts=alerts, overview=_overview_table(a),
        sections=sections,
        tensors=tuple(_tensor_section(i, t_) for i, t_ in enumerate(a.tensors)),
        methods=METHODS, notes=a.notes,
        footer=(f"reportgen {a.reportgen_version} · load {fmt.seconds(t.load_s)} · analysis "
                f"{fmt.seconds(t.stats_s)} ({t.compile_count} compilations, {fmt.seconds(t.compile_s)})"),
    )
