"""The importance phase: per-class Taylor and Fisher importance of every weight tensor and unit."""
from __future__ import annotations

import numpy as np

from ..config import Config
from ..progress import Progress
from ..types import ClassImportance, ModelSpec, TensorRecord
from .importance import class_gradients, per_unit
from .projection import evenly_spaced
from .training import match_tensor

TOP_UNITS = 5  # per class
PER_EXAMPLE_BYTES = 512 * 2**20  # per-example gradients in one batch: batch x params x 4 bytes at most


def _leaves(tree) -> list[tuple[str, np.ndarray]]:
    from ..recorder import named_leaves

    return [(name, np.asarray(leaf)) for name, leaf in named_leaves(tree)]


def importance_phase(spec: ModelSpec, config: Config, progress: Progress,
                     records: tuple[TensorRecord, ...]) -> ClassImportance | str:
    if spec.labels is None:
        return "the ModelSpec has no labels, and per-class importance needs each example's class"
    inputs = np.asarray(spec.inputs)
    if not np.issubdtype(inputs.dtype, np.floating):
        return f"the ModelSpec's inputs are {inputs.dtype}; gradients need floating-point inputs"
    labels = np.asarray(spec.labels).astype(np.int32)
    take = evenly_spaced(len(inputs), config.importance_max_examples)
    x, y = inputs[take].astype(np.float32), labels[take]
    n_classes = int(max(y.max() + 1, len(spec.class_names or ())))
    params = _leaves(spec.params)
    # vmapped per-example gradients hold batch x params floats: smaller batches for big models.
    n_params = sum(w.size for _, w in params)
    batch = max(1, min(config.saliency_batch, PER_EXAMPLE_BYTES // (4 * max(n_params, 1))))
    with progress.phase(f"per-class importance over {len(x)} examples"):
        per_class = class_gradients(spec.apply_fn, spec.params, x, y, n_classes, batch)
    names = tuple(r.name for r in records)
    by_name = {r.name: r for r in records}
    matched = [match_tensor(n, names) for n, _ in params]
    classes = tuple((spec.class_names[k] if spec.class_names and k < len(spec.class_names) else str(k))
                    for k, *_ in per_class)
    taylor = np.zeros((len(params), len(per_class)))
    fisher = np.zeros_like(taylor)
    units: list[tuple[int, str, int, float]] = []
    for c, (k, _, grads, squares) in enumerate(per_class):
        g_leaves, f_leaves = _leaves(grads), _leaves(squares)
        unit_scores = []
        for t, ((pname, w), (_, g), (_, f)) in enumerate(zip(params, g_leaves, f_leaves)):
            element = np.abs(w * g)  # first-order Taylor: the loss change if this weight were removed
            taylor[t, c], fisher[t, c] = element.sum(), f.sum()
            record = by_name.get(matched[t])
            if record is not None and record.role in ("dense", "conv", "embedding"):
                score = per_unit(element, record.role, record.layout)
                if score is not None:
                    unit_scores += [(float(v), record.name, u) for u, v in enumerate(score)]
        total = taylor[:, c].sum() or 1.0
        units += [(c, name, u, v / total) for v, name, u in sorted(unit_scores, reverse=True)[:TOP_UNITS]]
    notes = []
    if len(take) < len(inputs):
        notes.append(f"{len(take):,} of {len(inputs):,} examples used, evenly spaced (importance_max_examples).")
    return ClassImportance(
        classes=classes, n_examples=tuple(n for _, n, _, _ in per_class),
        tensors=tuple(m or n for m, (n, _) in zip(matched, params)),
        taylor=taylor, fisher=fisher, top_units=tuple(units), notes=tuple(notes))
