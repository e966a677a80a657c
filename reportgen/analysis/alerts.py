"""Alerts: named, severity-ranked findings derived from the per-tensor analyses."""
from __future__ import annotations

from typing import Sequence

from ..types import Alert, TensorAnalysis

_ORDER = {"error": 0, "warning": 1, "info": 2}


def model_alerts(tensors: Sequence[TensorAnalysis]) -> tuple[Alert, ...]:
    alerts: list[Alert] = []
    for t in tensors:
        for err in t.errors:
            alerts.append(Alert("analysis_error", t.name, "error", err))
        s = t.stats
        if s is None:
            continue
        if s.nan_count or s.inf_count:
            alerts.append(Alert("non_finite", t.name, "error",
                                f"{s.nan_count} NaN and {s.inf_count} Inf values: the model's "
                                "outputs will be NaN wherever these weights are used."))
    return tuple(sorted(alerts, key=lambda a: _ORDER[a.severity]))
