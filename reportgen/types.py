"""Typed, frozen records that join the four stages: load -> analyze -> build -> render."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence

import numpy as np

Role = Literal["dense", "conv", "embedding", "norm", "bias", "other"]
Layout = Literal["flax", "pytorch"]
ROLES: tuple[Role, ...] = ("dense", "conv", "embedding", "norm", "bias", "other")
LAYOUTS: tuple[Layout, ...] = ("flax", "pytorch")


@dataclass(frozen=True)
class TensorRecord:
    """One named tensor of a model; the array is read only when `load()` is called."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: float32, bfloat16, int8, ...
    role: Role
    layout: Layout
    reader: Callable[[], np.ndarray] = field(repr=False, compare=False)
    note: str = ""  # what the loader did to it, e.g. a transpose into the model's layout

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def load(self) -> np.ndarray:
        return self.reader()


@dataclass(frozen=True)
class ModelWeights:
    """An ordered, lazily loaded collection of tensors plus where they came from."""

    source: str
    format: str  # safetensors[-sharded] | flax-msgpack | orbax | npz | pytree | pytorch[-sharded] | onnx | keras[-h5]
    layout: Layout
    sha256: str
    size_bytes: int
    tensors: tuple[TensorRecord, ...]

    @property
    def n_params(self) -> int:
        return sum(t.size for t in self.tensors)

    def __iter__(self) -> Iterator[TensorRecord]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def __getitem__(self, name: str) -> TensorRecord:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)


@dataclass(frozen=True)
class ModelSpec:
    """What a `--model pkg.module:factory` returns: enough to run the model, not only read it.

    Model-level sections (saliency, training, circuits, bias) need one; weights-only reports
    skip them with a note.
    """

    apply_fn: Callable[[Any, Any], Any]  # (params, x) -> logits
    params: Any
    inputs: np.ndarray
    labels: np.ndarray | None = None
    input_kind: Literal["image", "tabular", "sequence"] = "tabular"
    class_names: Sequence[str] | None = None
    feature_names: Sequence[str] | None = None
    groups: np.ndarray | None = None
    sensitive_features: Sequence[str] | None = None
    intermediates_fn: Callable[[Any, Any], Mapping[str, Any]] | None = None
    name: str = "model"


# ---- analysis outputs -------------------------------------------------------------------


@dataclass(frozen=True)
class TensorStats:
    """Summary statistics of one tensor; NaN/Inf are counted and excluded from the rest."""

    mean: float
    std: float
    min: float
    max: float
    abs_mean: float
    rms: float
    frobenius_norm: float
    kurtosis: float  # excess (Fisher) kurtosis, 0 for a Gaussian
    sparsity: float  # fraction exactly zero
    near_zero_fraction: float  # fraction with |w| < 1e-3 * max|w|
    nan_count: int
    inf_count: int
    percentiles: tuple[float, ...]  # of w at PERCENTILES
    abs_percentiles: tuple[float, ...]  # of |w| at PERCENTILES


PERCENTILES: tuple[int, ...] = (1, 5, 25, 50, 75, 95, 99)


@dataclass(frozen=True)
class Histogram:
    edges: tuple[float, ...]  # len(counts) + 1; symmetric around 0 for signed tensors
    counts: tuple[int, ...]


@dataclass(frozen=True)
class UnitStats:
    """Per-unit findings on the (units x fan_in) view of a kernel; units are output units."""

    n_units: int
    fan_in: int
    dead: tuple[int, ...]  # units whose incoming weights are all ~0
    duplicates: tuple[tuple[int, int, float], ...]  # (i, j, cosine) with cosine > threshold
    duplicates_checked: int  # units compared (a deterministic sample for very wide layers)


@dataclass(frozen=True)
class Heatmap:
    """A block-pooled unit matrix, quantised to uint8 codes 0..254 (127 = 0); 255 marks NaN."""

    codes: np.ndarray = field(repr=False, compare=False)  # uint8 [rows, cols], row 0 = unit 0
    n_rows: int = 0
    n_cols: int = 0
    block_rows: int = 1
    block_cols: int = 1
    clip: float = 0.0  # |w| mapped to the ends of the colour scale
    outliers: tuple[tuple[int, int, float], ...] = ()  # (cell row, cell col, value) beyond clip
    # The same matrix pooled to half and a quarter of the side (None: it fits that side already),
    # with the same clip, from the weights (not from the codes, whose saturated cells have lost
    # their order): the page-size budget's coarser views.
    coarser: tuple["Heatmap | None", ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class ConvFilters:
    """Distill-style filter views: per shown output channel, its strongest input kernels."""

    mode: Literal["rgb", "single", "top_inputs"]
    # uint8 codes: [out, k, kh, kw] diverging (as Heatmap.codes), or [out, kh, kw, 3] RGB
    tiles: np.ndarray = field(repr=False, compare=False)
    out_channels: tuple[int, ...] = ()
    in_channels: tuple[tuple[int, ...], ...] = ()  # per shown output channel, ranked inputs
    clip: float = 0.0
    n_out: int = 0


@dataclass(frozen=True)
class Spectral:
    """WeightWatcher-style spectral metrics of one kernel's ESD (eigenvalues of WᵀW).

    A fit that could not run leaves its numbers NaN and says why in `fit_note`.
    """

    n_rows: int  # N, the long side of each matrix
    n_cols: int  # M, the short side
    n_slices: int  # conv: kh·kw matrices pooled into one ESD; 1 otherwise
    num_evals: int
    method: Literal["svd", "gram"]
    norm: float  # Σλ = ‖W‖F² (after the conv slice scaling)
    log_norm: float
    spectral_norm: float  # λmax
    log_spectral_norm: float
    stable_rank: float  # Σλ / λmax
    matrix_rank: int
    entropy: float  # matrix entropy in [0, 1]
    alpha: float
    alpha_weighted: float  # alpha · log10(λmax)
    log_alpha_norm: float  # log10 Σ λ^alpha
    xmin: float
    xmax: float
    D: float
    sigma: float
    num_pl_spikes: int
    sigma_mp: float
    bulk_min: float
    bulk_max: float  # Marchenko-Pastur bulk edge λ+
    num_spikes: int  # eigenvalues beyond the bulk edge (with the Tracy-Widom margin)
    mp_softrank: float
    esd: Histogram  # log-spaced bins over the positive eigenvalues
    fit_note: str = ""


@dataclass(frozen=True)
class NeuronMap:
    """One point per output unit (its incoming weights): PCA, UMAP and t-SNE coordinates.

    `shown` are the unit indices plotted (all, or a deterministic subsample); coordinate
    arrays are [len(shown), 2] and None for a view that was not computed (see `notes`).
    """

    n_units: int
    fan_in: int
    shown: np.ndarray = field(repr=False, compare=False)  # int32 unit indices
    norms: np.ndarray = field(repr=False, compare=False)  # float32 L2 norm of each shown unit
    top_inputs: np.ndarray = field(repr=False, compare=False)  # int32 [shown, 3] strongest |w|
    top_weights: np.ndarray = field(repr=False, compare=False)  # float32 [shown, 3]
    pca: np.ndarray = field(repr=False, compare=False)
    umap: np.ndarray | None = field(default=None, repr=False, compare=False)
    tsne: np.ndarray | None = field(default=None, repr=False, compare=False)
    explained_variance_ratio: tuple[float, ...] = ()  # of the leading components, all units
    clusters: np.ndarray | None = field(default=None, repr=False, compare=False)  # int per shown
    n_clusters: int = 1
    silhouette: float = float("nan")
    groups: np.ndarray | None = field(default=None, repr=False, compare=False)  # e.g. attention head
    group_label: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class JointMap:
    """Units of several layers with one input dimension, projected together (cross-layer view)."""

    fan_in: int
    layers: tuple[str, ...]
    layer_of: np.ndarray = field(repr=False, compare=False)  # int index into layers, per point
    unit_of: np.ndarray = field(repr=False, compare=False)  # unit index within its layer
    pca: np.ndarray = field(repr=False, compare=False)
    umap: np.ndarray | None = field(default=None, repr=False, compare=False)
    explained_variance_ratio: tuple[float, ...] = ()
    per_layer_cap: int = 0


@dataclass(frozen=True)
class Attribution:
    """One saliency method's attributions over the analysed examples (reduced for display).

    `maps`: images [shown, H, W] (summed over channels), tabular [examples, features], sequences
    [shown, positions] (summed over the feature axis). `class_means`: images only,
    [classes, H, W], the mean signed map over the examples targeted at each class (NaN where
    none was). `mean_abs`: mean |attribution| over all analysed examples, per feature, pixel or
    position (channels summed first).
    """

    method: str  # gradient | gradient_x_input | smoothgrad | integrated_gradients
    maps: np.ndarray = field(repr=False, compare=False)
    mean_abs: np.ndarray = field(repr=False, compare=False)
    class_means: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Completeness:
    """Integrated Gradients' completeness check: Σ attributions vs f(x) − f(baseline), per example.

    `ladder` is every step count tried, with the largest relative error at it; the step count
    doubles from `ig_steps` until the largest error is within `tolerance` or `ig_max_steps`.
    """

    steps: int  # the step count the reported attributions use
    tolerance: float
    reached: bool
    ladder: tuple[tuple[int, float], ...]  # (steps, max relative error)
    rel_errors: np.ndarray = field(repr=False, compare=False)  # per example, at `steps`
    delta_f: np.ndarray = field(repr=False, compare=False)  # f(x) − f(baseline), per example


@dataclass(frozen=True)
class Saliency:
    """Gradient saliency of a model's target logit with respect to its inputs (model-level)."""

    input_kind: Literal["image", "tabular", "sequence"]
    input_shape: tuple[int, ...]  # one example's
    n_inputs: int  # examples the ModelSpec holds
    examples: np.ndarray = field(repr=False, compare=False)  # indices analysed (into spec.inputs)
    shown: np.ndarray = field(repr=False, compare=False)  # positions within `examples` displayed
    target_mode: str  # predicted | label | class <k>
    targets: np.ndarray = field(repr=False, compare=False)  # class attributed, per analysed example
    predictions: np.ndarray = field(repr=False, compare=False)
    labels: np.ndarray | None = field(repr=False, compare=False)
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]  # tabular features (or generated f0..)
    inputs_shown: np.ndarray = field(repr=False, compare=False)  # the shown examples' inputs
    feature_values: np.ndarray | None = field(repr=False, compare=False)  # tabular: [examples, F]
    methods: tuple[Attribution, ...]
    baseline: str  # zeros | blurred | mean
    smoothgrad_samples: int
    smoothgrad_noise: float  # σ as a fraction of the inputs' value range
    completeness: Completeness | None  # None when IG was not among the methods
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupRates:
    """Outcomes for one group: rates of the positive prediction and of errors (NaN without labels)."""

    group: str
    n: int
    positive_rate: float
    accuracy: float
    tpr: float
    fpr: float


@dataclass(frozen=True)
class BiasUnit:
    """A hidden unit whose activation separates the groups, and what removing it does."""

    layer: str  # the ModelSpec's intermediates name, e.g. Dense_1
    unit: int
    effect_size: float  # (mean group 1 − mean group 0) / pooled std of the activation
    tensor: str | None  # the weights tensor that computes it, when it could be matched
    out_weights: tuple[float, ...]  # its linearised weights to each output (ReLU as identity)
    gap_after_ablation: float  # parity gap with the unit's incoming weights and bias zeroed; NaN if not run


@dataclass(frozen=True)
class BiasAudit:
    """Group outcome rates, the sensitive features' attribution and counterfactual effect, the units behind."""

    groups: tuple[GroupRates, ...]
    positive_class: str
    output_names: tuple[str, ...]
    parity_gap: float  # max − min positive rate over groups (demographic parity difference)
    equalised_odds_gap: float  # max over TPR and FPR of (max − min over groups); NaN without labels
    sensitive: tuple[str, ...]
    feature_names: tuple[str, ...]
    attribution_share: tuple[float, ...]  # per feature, of the mean |IG| towards the positive class
    sensitive_rank: tuple[int, ...]  # rank (1 = largest share) of each sensitive feature
    flip_rate: tuple[float, ...]  # per sensitive feature: predictions changed by flipping/permuting it
    counterfactual: tuple[str, ...]  # "flip" (two values swapped) or "permute", per sensitive feature
    expanded: tuple[tuple[float, ...], ...]  # per sensitive feature, its linearised weight to each output
    expanded_method: str  # "expanded weights from the inputs to the output layer (...)" or "mean input gradient"
    input_tensor: str | None  # the kernel the inputs feed (where a sensitive feature's weights are)
    units: tuple[BiasUnit, ...]
    flagged: tuple[str, ...]  # sensitive features that tripped the alert
    n_examples: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CircuitLayer:
    """A layer of units found in the model's computation: a matmul (dense or conv) on a kernel."""

    name: str  # the kernel's module path, e.g. Conv_1
    tensor: str | None  # the report's kernel tensor, when it could be matched
    kind: Literal["dense", "conv"]
    n_units: int
    spatial: tuple[int, ...]  # its output's spatial shape for one example (() for dense)


@dataclass(frozen=True)
class ExpandedWeights:
    """The linear map from a source layer's units (or the input's channels) to a target layer's
    units with ReLU as identity and max-pool as average-pool, read at the target's centre."""

    source: str  # a CircuitLayer name, or "input"
    target: str
    skipped: tuple[str, ...]  # layers in between
    weights: np.ndarray = field(repr=False, compare=False)  # float32 [target units, h, w, source units]
    centre: tuple[int, ...] | None = None  # target position read (conv targets)
    offset: tuple[int, ...] = ()  # where the kept window starts in the source's spatial grid
    truncated: bool = False  # the receptive field reaches past the source map's edge
    shown: np.ndarray = field(default=None, repr=False, compare=False)  # int32 target units shown
    ranked: np.ndarray = field(default=None, repr=False, compare=False)  # int32 [target units, top] by L2
    norms: np.ndarray = field(default=None, repr=False, compare=False)  # float32 [target units, top]
    heatmap: Heatmap | None = None  # a dense source (h = w = 1): the whole [target, source] matrix


@dataclass(frozen=True)
class UnitContext:
    """A layer's top-activating examples: per unit, the examples with its largest activation."""

    layer: str
    examples: np.ndarray = field(repr=False, compare=False)  # int32 [units, k] into the ModelSpec inputs
    values: np.ndarray = field(repr=False, compare=False)  # float32 [units, k]: the activations


@dataclass(frozen=True)
class WeightFactors:
    """One-sided NMF of expanded weights over the source units: k non-negative factors."""

    source: str
    target: str
    factors: np.ndarray = field(repr=False, compare=False)  # [k, source units], each row's max 1
    excitation: np.ndarray = field(repr=False, compare=False)  # [target units, h, w, k] from max(0, W)
    inhibition: np.ndarray = field(repr=False, compare=False)  # [target units, h, w, k] from max(0, −W)
    explained: float  # 1 − ‖X − UV‖² / ‖X‖² of the concatenated positive and negative parts


@dataclass(frozen=True)
class ActivationMax:
    """Inputs optimised to excite each shown unit of one layer (gradient ascent, fixed seed)."""

    layer: str
    units: np.ndarray = field(repr=False, compare=False)  # int32
    images: np.ndarray = field(repr=False, compare=False)  # [units, *input shape]
    activation: np.ndarray = field(repr=False, compare=False)  # reached, per unit
    top_example: np.ndarray = field(repr=False, compare=False)  # the best example's activation, per unit


@dataclass(frozen=True)
class Circuits:
    """Expanded weights between layers, top connections with context, and weight factors."""

    layers: tuple[CircuitLayer, ...]
    expanded: tuple[ExpandedWeights, ...]
    chosen: tuple[str, ...]  # layers whose top connections are shown with context
    drawn: tuple[int, ...]  # indices into `expanded` the page draws, in page order
    contexts: tuple[UnitContext, ...]
    factors: tuple[WeightFactors, ...]
    actmax: tuple[ActivationMax, ...]
    example_ids: np.ndarray = field(repr=False, compare=False)  # inputs any context refers to
    example_images: np.ndarray = field(repr=False, compare=False)  # those inputs
    input_kind: str = "tabular"
    input_names: tuple[str, ...] = ()  # tabular inputs: the ModelSpec's feature names
    class_names: tuple[str, ...] = ()  # the output layer's units, when the ModelSpec names them
    n_examples: int = 0  # examples searched for top activations
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TensorAnalysis:
    """Everything computed for one tensor; `error` is set when an analysis of it failed."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    role: Role
    layout: Layout
    n_params: int
    stats: TensorStats | None = None
    histogram: Histogram | None = None
    units: UnitStats | None = None
    heatmap: Heatmap | None = None
    filters: ConvFilters | None = None
    spectral: Spectral | None = None
    spectral_skipped: str | None = None  # why a matrix-like tensor has no spectral analysis
    neuron_map: NeuronMap | None = None
    notes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    source: str
    sha256: str
    format: str
    layout: Layout
    n_tensors: int
    n_params: int
    size_bytes: int
    dtypes: tuple[tuple[str, int], ...]  # (dtype, parameter count), largest first


@dataclass(frozen=True)
class TrainingLog:
    """A TrainingRecorder log: per record (step) and tensor, norms and histogram counts."""

    names: tuple[str, ...]
    steps: np.ndarray = field(repr=False, compare=False)  # [S]
    loss: np.ndarray = field(repr=False, compare=False)  # [S], NaN where not given
    metrics: tuple[tuple[str, np.ndarray], ...] = field(default=(), repr=False, compare=False)
    param_norm: np.ndarray = field(default=None, repr=False, compare=False)  # [S, T]
    grad_norm: np.ndarray = field(default=None, repr=False, compare=False)
    update_norm: np.ndarray = field(default=None, repr=False, compare=False)  # NaN without updates
    zero_grad_fraction: np.ndarray = field(default=None, repr=False, compare=False)
    param_hist: np.ndarray = field(default=None, repr=False, compare=False)  # [S, T, B] counts
    grad_hist: np.ndarray = field(default=None, repr=False, compare=False)
    param_edges: np.ndarray = field(default=None, repr=False, compare=False)  # [T, B + 1]
    grad_edges: np.ndarray = field(default=None, repr=False, compare=False)
    source: str = ""
    every: int = 1


@dataclass(frozen=True)
class TensorDynamics:
    """One tensor's training summary: where it ended and what the alerts look at."""

    name: str
    tensor: str | None  # the matching weight tensor of the report, when there is one
    final_param_norm: float
    final_grad_norm: float
    late_rel_grad: float  # median over the last quarter of grad_norm / param_norm
    late_update_ratio: float  # median over the last quarter of update_norm / param_norm (NaN: no updates)
    grad_growth: float  # largest grad norm over the median of the first tenth of records
    final_zero_grad_fraction: float


@dataclass(frozen=True)
class Training:
    log: TrainingLog
    tensors: tuple[TensorDynamics, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TensorDiff:
    """How one tensor changed from the compared checkpoint (A, --compare) to the reported one (B)."""

    name: str
    shape: tuple[int, ...]
    rel_change: float  # ‖B − A‖F / ‖A‖F
    cosine: float  # <A, B> / (‖A‖ ‖B‖), flattened
    max_abs_change: float
    delta_rank: int | None  # singular values of the unit matrix of ΔW above 1e-3 of the largest
    energy_rank: int | None  # fewest singular directions holding 90% of ‖ΔW‖F²
    alpha_before: float | None  # spectral alpha of A's kernel (B's is in its TensorAnalysis)
    alpha_after: float | None
    log_norm_before: float | None
    log_norm_after: float | None
    heatmap: Heatmap | None = None  # ΔW as a unit matrix, the weight heatmaps' conventions


@dataclass(frozen=True)
class CheckpointDiff:
    other: str  # the compared checkpoint's source
    tensors: tuple[TensorDiff, ...]  # in the reported model's order
    only_here: tuple[str, ...]  # tensors in the reported weights only
    only_there: tuple[str, ...]  # tensors in the compared weights only
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]  # (name, shape here, shape there)


@dataclass(frozen=True)
class ClassImportance:
    """Per class, how much each weight tensor (and unit) matters for that class's loss."""

    classes: tuple[str, ...]
    n_examples: tuple[int, ...]  # per class
    tensors: tuple[str, ...]  # report tensor names (or the params' own names when unmatched)
    taylor: np.ndarray = field(repr=False, compare=False)  # [T, K]: Σ |w · ∂L_k/∂w|
    fisher: np.ndarray = field(repr=False, compare=False)  # [T, K]: Σ mean over class-k examples of (∂ℓ/∂w)²
    top_units: tuple[tuple[int, str, int, float], ...] = ()  # (class, tensor, unit, share of the class's Taylor sum)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alert:
    kind: str
    tensor: str | None
    severity: Literal["info", "warning", "error"]
    message: str


@dataclass(frozen=True)
class Timings:
    load_s: float = 0.0
    stats_s: float = 0.0
    spectral_s: float = 0.0
    projection_s: float = 0.0
    saliency_s: float = 0.0
    circuits_s: float = 0.0
    bias_s: float = 0.0
    training_s: float = 0.0  # the training log, the checkpoint diff and per-class importance
    render_s: float = 0.0
    total_s: float = 0.0
    compile_count: int = 0
    compile_s: float = 0.0
    device: str = ""  # the JAX platform the analyses ran on


@dataclass(frozen=True)
class Analysis:
    reportgen_version: str
    model: ModelInfo
    tensors: tuple[TensorAnalysis, ...]
    alerts: tuple[Alert, ...]
    timings: Timings
    sections: tuple[str, ...]
    notes: tuple[str, ...] = ()  # model-level notes, e.g. sections skipped and why
    joint_maps: tuple[JointMap, ...] = ()
    saliency: Saliency | None = None
    bias: BiasAudit | None = None
    training: Training | None = None
    diff: CheckpointDiff | None = None
    importance: ClassImportance | None = None
    circuits: Circuits | None = None


def numpy_dtype(name: str) -> Any:
    """Resolve dtype names numpy lacks (bfloat16, float8_*) through ml_dtypes."""
    try:
        return np.dtype(name)
    except TypeError:
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, name))
