"""The bias audit phase: rates per group, what the sensitive features drive, and the units that carry it."""
from __future__ import annotations

import numpy as np

from ..config import Config
from ..progress import Progress
from ..types import BiasAudit, BiasUnit, ModelSpec
from . import bias as b
from .projection import evenly_spaced
from .saliency_phase import batched


def _predict(spec: ModelSpec, params, x: np.ndarray, config: Config) -> np.ndarray:
    from . import saliency as k

    return batched(k.logits, dict(x=x), config.saliency_batch, apply_fn=spec.apply_fn, params=params)


def _feature_index(spec: ModelSpec, feature) -> int:
    names = list(spec.feature_names or ())
    return int(feature) if isinstance(feature, (int, np.integer)) else names.index(feature)


def _shares(spec: ModelSpec, x: np.ndarray, positive: int, config: Config) -> np.ndarray:
    """Each feature's share of the mean |Integrated Gradients| towards the positive class."""
    from . import saliency as k

    targets = np.full(len(x), positive, np.int32)
    ig = batched(k.integrated_gradients, dict(x=x, baseline=np.zeros_like(x), targets=targets),
                  config.saliency_batch, apply_fn=spec.apply_fn, params=spec.params, steps=config.ig_steps)
    mean_abs = np.abs(ig.reshape(len(x), -1)).mean(0)
    return mean_abs / mean_abs.sum() if mean_abs.sum() > 0 else mean_abs


def _expanded(spec: ModelSpec, x: np.ndarray, js: list[int], n_out: int,
              config: Config) -> tuple[list[tuple[float, ...]], str]:
    """Each sensitive feature's linearised weight to each output: the circuits' expanded
    weights from the input to the output layer (for a ReLU dense stack, the product of its
    kernels), or the mean input gradient when no output layer is found in the model."""
    from .circuits import expanded_weights
    from .linearize import trace

    traced = trace(spec.apply_fn, spec.params, x[:1])
    last = traced.layers[-1] if traced.layers else None
    if last is not None and last.n_units == n_out and not last.spatial:
        w = expanded_weights(traced, spec.params, None, last, x.mean(axis=0, keepdims=True))[0][:, 0, 0, :]
        return ([tuple(float(v) for v in w[:, j]) for j in js],
                "expanded weights from the inputs to the output layer (ReLU as identity)")
    from . import saliency as k

    grads = [batched(k.gradient, dict(x=x, targets=np.full(len(x), c, np.int32)), config.saliency_batch,
                      apply_fn=spec.apply_fn, params=spec.params).reshape(len(x), -1).mean(0) for c in range(n_out)]
    return [tuple(float(g[j]) for g in grads) for j in js], "mean input gradient"


def _units(spec: ModelSpec, x: np.ndarray, acts: dict[str, np.ndarray], chain: list[str] | None,
           in_group: np.ndarray, positive: int, groups: np.ndarray, tensor_names: tuple[str, ...],
           config: Config, notes: list[str]) -> tuple[BiasUnit, ...]:
    if spec.intermediates_fn is None:
        notes.append("The ModelSpec has no intermediates_fn, so no hidden units are examined.")
        return ()
    hidden = dict(list(acts.items())[:-1])  # the last layer's output is the prediction itself
    found = []
    for layer, a in hidden.items():
        d = b.effect_sizes(a, in_group)
        leaf = layer.split("/")[-1]
        tensor = _kernel_of(leaf, tensor_names)
        for u in np.argsort(-np.abs(d), kind="stable")[:config.bias_top_units]:
            out_w: tuple[float, ...] = ()
            gap = float("nan")
            if chain is not None and leaf in chain:
                rest = chain[chain.index(leaf) + 1:]
                if rest:
                    out_w = tuple(float(v) for v in b.chain_product(spec.params, rest)[u])
                pred = _predict(spec, b.ablate(spec.params, leaf, int(u)), x, config).argmax(1) == positive
                gap = b.gaps(b.group_rates(pred, None, groups))[0]
            found.append(BiasUnit(layer=layer, unit=int(u), effect_size=float(d[u]), tensor=tensor,
                                  out_weights=out_w, gap_after_ablation=gap))
    if chain is None:
        notes.append("The model is not a plain stack of Dense layers, so units are not ablated and their "
                     "weights to the outputs are not linearised.")
    return tuple(sorted(found, key=lambda u: -abs(u.effect_size)))


def _kernel_of(layer: str, tensor_names: tuple[str, ...]) -> str | None:
    """The weights file's kernel for a layer name (`Dense_1` -> `params/Dense_1/kernel`), if any."""
    return next((t for t in tensor_names if layer in t.replace(".", "/").split("/")
                 and t.rsplit("/", 1)[-1].rsplit(".", 1)[-1] in ("kernel", "weight")), None)


def bias_phase(spec: ModelSpec, config: Config, progress: Progress, tensor_names: tuple[str, ...]) -> BiasAudit | str:
    """The audit, or why it cannot run (a string)."""
    if not spec.sensitive_features:
        return "the ModelSpec names no sensitive_features"
    inputs = np.asarray(spec.inputs)
    if spec.input_kind != "tabular" or inputs.ndim != 2 or not np.issubdtype(inputs.dtype, np.floating):
        return "the bias audit needs tabular, floating-point inputs [examples, features]"
    notes: list[str] = []
    rows = evenly_spaced(len(inputs), config.bias_max_examples)
    x = inputs[rows].astype(np.float32)
    js = [_feature_index(spec, f) for f in spec.sensitive_features]
    names = tuple(spec.feature_names or (f"feature {i}" for i in range(x.shape[1])))
    if spec.groups is not None:
        groups = np.asarray(spec.groups)[rows]
    else:
        groups = x[:, js[0]]
        notes.append(f"No groups were given: the values of {names[js[0]]!r} define them.")
    if len(np.unique(groups)) < 2:
        return "the examples hold a single group"
    with progress.phase(f"bias audit of {len(spec.sensitive_features)} sensitive feature(s) on {len(x)} examples"):
        logits = _predict(spec, spec.params, x, config)
        positive = config.bias_positive_class if config.bias_positive_class < logits.shape[1] else logits.shape[1] - 1
        pred = logits.argmax(1) == positive
        labels = None if spec.labels is None else np.asarray(spec.labels)[rows] == positive
        rates = b.group_rates(pred, labels, groups)
        parity, odds = b.gaps(rates)
        shares = _shares(spec, x, positive, config)
        order = np.argsort(-shares, kind="stable")
        ranks = tuple(int(np.flatnonzero(order == j)[0]) + 1 for j in js)
        flips, kinds = [], []
        for j in js:
            x2, kind = b.counterfactual(x, j, config.saliency_seed)
            flips.append(float(np.mean((_predict(spec, spec.params, x2, config).argmax(1) == positive) != pred)))
            kinds.append(kind)
        chain = b.dense_chain(spec.params)
        expanded, method = _expanded(spec, x, js, logits.shape[1], config)
        acts = b.flatten_activations(spec.intermediates_fn(spec.params, x)) if spec.intermediates_fn else {}
        first = chain[0] if chain else next(iter(acts), "").split("/")[-1]
        input_tensor = _kernel_of(first, tensor_names) if first else None
        # The group with the lowest positive rate against the rest: the units that tell them apart.
        low = min(rates, key=lambda r: r.positive_rate).group
        units = _units(spec, x, acts, chain, np.array([str(g) == low for g in groups]), positive, groups,
                       tensor_names, config, notes)
    flagged = tuple(names[j] for j, r, f in zip(js, ranks, flips) if r <= 3 and f > config.bias_flip_threshold)
    outputs = tuple(spec.class_names or ())
    if len(outputs) != logits.shape[1]:
        outputs = tuple(f"output {i}" for i in range(logits.shape[1]))
    return BiasAudit(
        groups=rates, positive_class=outputs[positive], output_names=outputs,
        parity_gap=parity, equalised_odds_gap=odds, sensitive=tuple(names[j] for j in js), feature_names=names,
        attribution_share=tuple(float(v) for v in shares), sensitive_rank=ranks, flip_rate=tuple(flips),
        counterfactual=tuple(kinds), expanded=tuple(expanded), expanded_method=method, input_tensor=input_tensor,
        units=units,
        flagged=flagged, n_examples=len(x), notes=tuple(notes))
