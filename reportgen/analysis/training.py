"""Training dynamics from a recorder log: per-tensor summaries and what the alerts look at."""
from __future__ import annotations

import numpy as np

from ..types import Alert, TensorDynamics, Training, TrainingLog


def match_tensor(log_name: str, tensor_names: tuple[str, ...]) -> str | None:
    """The report's tensor a log name refers to: equal, or equal after a leading `params/` or the
    longest common suffix of path parts (a recorder sees `Dense_0/kernel`, the file
    `params/Dense_0/kernel`)."""
    want = log_name.replace(".", "/").split("/")
    best, best_len = None, 0
    for name in tensor_names:
        parts = name.replace(".", "/").split("/")
        n = 0
        while n < min(len(parts), len(want)) and parts[-1 - n] == want[-1 - n]:
            n += 1
        if n == len(want) and n > best_len:
            best, best_len = name, n
    return best


def _late(x: np.ndarray) -> np.ndarray:
    """The last quarter of the records (at least one)."""
    return x[-max(1, len(x) // 4):]


def summarize(log: TrainingLog, tensor_names: tuple[str, ...] = ()) -> Training:
    tensors = []
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_grad = log.grad_norm / log.param_norm
        ratio = log.update_norm / log.param_norm
        early = max(1, len(log.steps) // 10)
        for t, name in enumerate(log.names):
            g = log.grad_norm[:, t]
            base = np.nanmedian(g[:early])
            tensors.append(TensorDynamics(
                name=name, tensor=match_tensor(name, tensor_names),
                final_param_norm=float(log.param_norm[-1, t]), final_grad_norm=float(g[-1]),
                late_rel_grad=float(np.nanmedian(_late(rel_grad[:, t]))),
                late_update_ratio=float(np.nanmedian(_late(ratio[:, t]))) if np.isfinite(ratio[:, t]).any()
                else float("nan"),
                grad_growth=float(np.nanmax(g) / base) if base > 0 and np.isfinite(g).all() else
                (float("inf") if not np.isfinite(g).all() else float("nan")),
                final_zero_grad_fraction=float(log.zero_grad_fraction[-1, t])))
    notes = []
    unmatched = [d.name for d in tensors if d.tensor is None]
    if tensor_names and unmatched:
        notes.append(f"{len(unmatched)} of {len(tensors)} recorded tensors have no match in the weights file "
                     f"(first: {unmatched[0]!r}); they are shown without links.")
    return Training(log=log, tensors=tuple(tensors), notes=tuple(notes))


def training_alerts(training: Training, vanishing_rel: float, exploding_growth: float,
                    stalled_ratio: float) -> list[Alert]:
    out = []
    for d in training.tensors:
        where = d.tensor or d.name
        if d.grad_growth == float("inf"):
            out.append(Alert("exploding_gradients", where, "error", "the gradient norm became NaN or Inf."))
        elif d.grad_growth > exploding_growth:
            out.append(Alert("exploding_gradients", where, "warning",
                             f"the gradient norm grew to {d.grad_growth:.3g}x its early median "
                             f"(above {exploding_growth:g}x)."))
        if d.late_rel_grad < vanishing_rel:
            out.append(Alert("vanishing_gradients", where, "warning",
                             f"late in training |grad| / |w| is {d.late_rel_grad:.2g} (below {vanishing_rel:g})."))
        if d.late_update_ratio < stalled_ratio:
            out.append(Alert("stalled_layer", where, "warning",
                             f"late in training |update| / |w| is {d.late_update_ratio:.2g} "
                             f"(below {stalled_ratio:g}): the tensor has stopped changing."))
    return out
