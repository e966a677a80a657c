"""The saliency phase: which examples, which target class, which baseline; runs the kernels in batches."""
from __future__ import annotations

import numpy as np

from ..config import Config
from ..progress import Progress
from ..types import Attribution, Completeness, ModelSpec, Saliency
from .projection import evenly_spaced


def batched(fn, arrays: dict[str, np.ndarray], batch: int, **static) -> np.ndarray:
    """fn over fixed-size batches of `arrays` (the last padded by repeating its final row): one compile."""
    import jax

    n = len(next(iter(arrays.values())))
    size = min(batch, n)
    out = []
    for start in range(0, n, size):
        chunk = {k: a[start:start + size] for k, a in arrays.items()}
        short = size - min(size, n - start)
        if short:
            chunk = {k: np.concatenate([c, np.repeat(c[-1:], short, axis=0)]) for k, c in chunk.items()}
        out.append(np.asarray(jax.device_get(fn(**chunk, **static)))[:size - short])
    return np.concatenate(out)


def channels_last(x: np.ndarray) -> np.ndarray:
    """Image examples as [n, H, W, C]: Flax's NHWC, a bare [n, H, W], or NCHW with C ≤ 4."""
    if x.ndim == 3:
        return x[..., None]
    if x.ndim == 4 and x.shape[1] <= 4 < x.shape[-1]:
        return np.moveaxis(x, 1, -1)
    return x


def reduce_for_display(attr: np.ndarray, kind: str) -> np.ndarray:
    """Images: summed over channels -> [n, H, W]; sequences: over features -> [n, T]; tabular: [n, F]."""
    if kind == "image":
        return channels_last(attr).sum(-1)
    if kind == "sequence":
        return attr.reshape(len(attr), attr.shape[1], -1).sum(-1)
    return attr.reshape(len(attr), -1)


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of image examples over H and W (edges reflected); same layout as x."""
    radius = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    out = channels_last(x).astype(np.float64)
    for axis in (1, 2):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if out.shape[axis] > radius else "edge")
        out = sum(w * np.take(padded, range(i, i + out.shape[axis]), axis=axis) for i, w in enumerate(k))
    if x.ndim == 3:
        out = out[..., 0]
    elif out.shape != x.shape:  # NCHW
        out = np.moveaxis(out, -1, 1)
    return out.astype(x.dtype)


def shown_examples(classes: np.ndarray, n_classes: int, count: int) -> np.ndarray:
    """Positions to display: the first example of each class in class order, then the rest in order."""
    first = [int(np.flatnonzero(classes == c)[0]) for c in range(n_classes) if (classes == c).any()]
    rest = [i for i in range(len(classes)) if i not in set(first)]
    return np.asarray((first + rest)[:count], np.int64)


def _targets(mode: str | int, predictions: np.ndarray, labels: np.ndarray | None, n_classes: int,
             notes: list[str]) -> tuple[np.ndarray, str]:
    if mode == "label":
        if labels is not None:
            return labels.astype(np.int32), "label"
        notes.append("saliency_target = 'label' but the ModelSpec has no labels: the predicted class is used.")
    elif isinstance(mode, int):
        if mode < n_classes:
            return np.full(len(predictions), mode, np.int32), f"class {mode}"
        notes.append(f"saliency_target = {mode} but the model has {n_classes} outputs: the predicted class is used.")
    return predictions.astype(np.int32), "predicted"


def _baseline(x: np.ndarray, inputs: np.ndarray, kind: str, config: Config, notes: list[str]) -> tuple[np.ndarray, str]:
    name = config.ig_baseline
    if name == "blurred" and kind != "image":
        notes.append(f"ig_baseline = 'blurred' applies to images only; this is {kind} input, so zeros are used.")
        name = "zeros"
    if name == "mean":
        return np.broadcast_to(inputs.mean(0, dtype=np.float64).astype(np.float32), x.shape).copy(), name
    if name == "blurred":
        h, w = channels_last(x[:1]).shape[1:3]
        return blur(x, max(h, w) / 4), name
    return np.zeros_like(x), name


def _completeness(attr: np.ndarray, delta_f: np.ndarray) -> np.ndarray:
    """|Σ attributions − Δf| / max(|Δf|, mean |Δf| over the examples).

    The floor keeps an example whose target logit barely moves between baseline and input
    from dividing by ~0: on ReLU networks the integrand jumps at every kink on the path, so the
    trapezoid rule's absolute error shrinks like 1/steps whatever Δf is.
    """
    floor = max(float(np.abs(delta_f).mean()), 1e-12)
    total = attr.reshape(len(attr), -1).sum(1, dtype=np.float64)
    return np.abs(total - delta_f) / np.maximum(np.abs(delta_f), floor)


def _integrated(spec: ModelSpec, x, baseline, targets, config: Config, progress: Progress):
    from . import saliency as k

    common = dict(apply_fn=spec.apply_fn, params=spec.params)
    f_x = batched(k.target_logits, dict(x=x, targets=targets), config.saliency_batch, **common)
    f_b = batched(k.target_logits, dict(x=baseline, targets=targets), config.saliency_batch, **common)
    delta_f = f_x.astype(np.float64) - f_b
    steps, ladder = config.ig_steps, []
    while True:
        progress.step(len(ladder) + 1, len(ladder) + 1, f"integrated gradients, {steps} steps")
        attr = batched(k.integrated_gradients, dict(x=x, baseline=baseline, targets=targets),
                        config.saliency_batch, steps=steps, **common)
        errors = _completeness(attr, delta_f)
        ladder.append((steps, float(errors.max())))
        if errors.max() <= config.ig_tolerance or steps * 2 > config.ig_max_steps:
            break
        steps *= 2
    return attr, Completeness(steps=steps, tolerance=config.ig_tolerance, reached=bool(errors.max() <= config.ig_tolerance),
                              ladder=tuple(ladder), rel_errors=errors.astype(np.float32),
                              delta_f=delta_f.astype(np.float32))


def _attribute(method: str, spec: ModelSpec, x, targets, indices, config: Config):
    import jax

    from . import saliency as k

    common = dict(apply_fn=spec.apply_fn, params=spec.params)
    if method == "smoothgrad":
        sigma = np.float32(config.smoothgrad_noise * float(np.ptp(np.asarray(spec.inputs))))
        base = jax.random.PRNGKey(config.saliency_seed)
        # One key per example, from its index in the inputs: the same noise whatever the batching.
        keys = np.asarray(jax.vmap(lambda i: jax.random.fold_in(base, i))(np.asarray(indices, np.uint32)))
        return batched(k.smoothgrad, dict(x=x, targets=targets, keys=keys), config.saliency_batch,
                        sigma=sigma, samples=config.smoothgrad_samples, **common)
    fn = k.gradient if method == "gradient" else k.gradient_x_input
    return batched(fn, dict(x=x, targets=targets), config.saliency_batch, **common)


def _summarise(method: str, attr: np.ndarray, kind: str, shown: np.ndarray, targets: np.ndarray,
               n_classes: int) -> Attribution:
    reduced = reduce_for_display(attr, kind)
    class_means = None
    if kind == "image":
        class_means = np.stack([reduced[targets == c].mean(0) if (targets == c).any()
                                else np.full(reduced.shape[1:], np.nan, np.float32) for c in range(n_classes)])
    return Attribution(method=method, maps=(reduced if kind == "tabular" else reduced[shown]).astype(np.float32),
                       mean_abs=np.abs(reduced).mean(0).astype(np.float32),
                       class_means=None if class_means is None else class_means.astype(np.float32))


def saliency_phase(spec: ModelSpec, config: Config, progress: Progress) -> Saliency | str:
    """Attributions for up to saliency_max_examples inputs; a string says why there are none."""
    from . import saliency as k

    inputs = np.asarray(spec.inputs)
    if not np.issubdtype(inputs.dtype, np.floating):
        return (f"the ModelSpec's inputs are {inputs.dtype} (token ids?), and gradients need floating-point "
                "inputs; give the model embedded inputs to attribute them")
    notes: list[str] = []
    examples = evenly_spaced(len(inputs), config.saliency_max_examples)
    if len(examples) < len(inputs):
        notes.append(f"{len(examples):,} of the {len(inputs):,} inputs are attributed, evenly spaced "
                     "(saliency_max_examples).")
    x = inputs[examples].astype(np.float32)
    kind = spec.input_kind
    with progress.phase(f"saliency: {len(config.saliency_methods)} methods on {len(x)} examples"):
        out = batched(k.logits, dict(x=x), config.saliency_batch, apply_fn=spec.apply_fn, params=spec.params)
        n_classes = out.shape[1]
        predictions = out.argmax(1).astype(np.int32)
        labels = None if spec.labels is None else np.asarray(spec.labels)[examples].astype(np.int32)
        targets, target_mode = _targets(config.saliency_target, predictions, labels, n_classes, notes)
        shown = shown_examples(labels if labels is not None else targets, n_classes, config.saliency_examples)
        baseline, baseline_name = _baseline(x, inputs, kind, config, notes)
        methods, completeness = [], None
        for method in config.saliency_methods:
            if method == "integrated_gradients":
                attr, completeness = _integrated(spec, x, baseline, targets, config, progress)
            else:
                attr = _attribute(method, spec, x, targets, examples, config)
            methods.append(_summarise(method, attr, kind, shown, targets, n_classes))
    if completeness is not None and not completeness.reached:
        notes.append(f"Integrated Gradients did not reach the completeness tolerance "
                     f"({config.ig_tolerance:.0%}) by {completeness.steps} steps (ig_max_steps).")
    n_features = int(np.prod(x.shape[1:])) if kind == "tabular" else 0
    names = tuple(spec.feature_names or ()) if kind == "tabular" else ()
    if kind == "tabular" and len(names) != n_features:
        if names:
            notes.append(f"the ModelSpec names {len(names)} features but the inputs have {n_features}; "
                         "features are numbered instead.")
        names = tuple(f"feature {i}" for i in range(n_features))
    class_names = tuple(spec.class_names or ())
    if len(class_names) != n_classes:
        class_names = tuple(str(c) for c in range(n_classes))
    return Saliency(
        input_kind=kind, input_shape=tuple(x.shape[1:]), n_inputs=len(inputs), examples=examples, shown=shown,
        target_mode=target_mode, targets=targets, predictions=predictions, labels=labels,
        class_names=class_names, feature_names=names, inputs_shown=x[shown],
        feature_values=x.reshape(len(x), -1) if kind == "tabular" else None, methods=tuple(methods),
        baseline=baseline_name, smoothgrad_samples=config.smoothgrad_samples,
        smoothgrad_noise=config.smoothgrad_noise, completeness=completeness, notes=tuple(notes))
