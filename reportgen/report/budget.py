"""The page-size budget: coarser heatmaps, then fewer per-tensor plots, until the page fits."""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import numpy as np

from ..analysis.alerts import SEVERITY_RANK
from ..types import Analysis
from .build import anchor

LEFT_OUT = "{what} left out to keep the report within its size budget (max_report_mb)."


def _kept(having: list[int], rank: dict[int, int], keep: int) -> set[int]:
    """`keep` of `having`: the most severe alerts first, then the rest evenly spaced in depth."""
    alerted = sorted((i for i in having if i in rank), key=lambda i: (rank[i], i))[:keep]
    rest = [i for i in having if i not in rank]
    k = min(keep - len(alerted), len(rest))
    spread = [rest[j] for j in np.unique(np.linspace(0, len(rest) - 1, k).round().astype(int))] if k > 0 else []
    return set(alerted) | set(spread)


# (kind of change, what the page says about it, the degraded analysis, figure ids changed)
Step = tuple[str, str, Analysis, set[str]]


def _steps(a: Analysis) -> Iterator[Step]:
    """Each degradation in turn, every one applied on top of the ones before."""
    index = {t.name: i for i, t in enumerate(a.tensors)}
    rank: dict[int, int] = {}  # tensor index -> its most severe alert (0 = error)
    for x in a.alerts:
        if x.tensor in index:
            i = index[x.tensor]
            rank[i] = min(rank.get(i, 9), SEVERITY_RANK[x.severity])
    views = [t.heatmap.coarser if t.heatmap else () for t in a.tensors]
    for level in range(1, 1 + max(map(len, views), default=0)):
        # Each heatmap's coarser view (computed from the weights by analysis.views.heatmap).
        changed = {i: v[level - 1] for i, v in enumerate(views) if len(v) >= level and v[level - 1] is not None}
        if not changed:
            continue
        side = max(max(h.codes.shape) for h in changed.values())
        a = dataclasses.replace(a, tensors=tuple(dataclasses.replace(t, heatmap=changed[i]) if i in changed else t
                                                 for i, t in enumerate(a.tensors)))
        yield "pool", f"heatmaps pooled to at most {side} cells per side", a, {f"{anchor(i)}-heat" for i in changed}
    for field, what in (("neuron_map", "neuron map"), ("filters", "filter grid"), ("heatmap", "heatmap")):
        having = [i for i, t in enumerate(a.tensors) if getattr(t, field) is not None]
        keep, start = len(having), a
        while keep:
            keep //= 2  # half of what is left at each step
            kept = _kept(having, rank, keep)
            note = LEFT_OUT.format(what=what.capitalize())
            a = dataclasses.replace(start, tensors=tuple(
                dataclasses.replace(t, **{field: None}, notes=t.notes + (note,))
                if i in having and i not in kept else t for i, t in enumerate(start.tensors)))
            yield field, f"{what}s shown for {keep} of {len(having)} tensors", a, set()


def fit(a: Analysis, budget_bytes: int, page_bytes: Callable[[Analysis, set[str]], int]
        ) -> tuple[Analysis, str | None]:
    """The analysis as the page should show it, and the page's note on what the budget cost.

    `page_bytes(analysis, changed_ids)` renders the page and returns its size; `changed_ids`
    are figures whose content changed since its last call (their packed items are stale).
    """
    size = full = page_bytes(a, set())
    if budget_bytes <= 0 or size <= budget_bytes:
        return a, None
    done: dict[str, str] = {}  # per kind of change, its last (strongest) step
    for kind, what, degraded, changed in _steps(a):
        done[kind] = what
        a, size = degraded, page_bytes(degraded, changed)
        if size <= budget_bytes:
            break
    how = "; ".join(done.values())
    head = f"Size budget: the full page would be {full / 1e6:.1f} MB, over its {budget_bytes / 1e6:g} MB budget"
    if size > budget_bytes:
        return a, f"{head}; even with {how} it is {size / 1e6:.1f} MB (BokehJS alone is about 1.3 MB)."
    return a, f"{head} (max_report_mb), so {how}. Set max_report_mb = 0 for every plot at full detail."
