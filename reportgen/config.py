"""Run configuration: which sections to build and the thresholds they use (reportgen.toml)."""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

# Every section the report knows, in page order. Sections a later version adds go here.
SECTIONS: tuple[str, ...] = ("overview", "stats", "heatmaps", "filters", "spectral", "projections", "saliency",
                             "circuits", "bias", "importance", "training", "diff")
SALIENCY_METHODS: tuple[str, ...] = ("gradient", "gradient_x_input", "smoothgrad", "integrated_gradients")
BASELINES: tuple[str, ...] = ("zeros", "blurred", "mean")


@dataclass(frozen=True)
class Config:
    sections: tuple[str, ...] = SECTIONS
    layout: str | None = None  # force "flax" or "pytorch"; None infers from format and names
    strict: bool = False  # re-raise per-tensor analysis errors instead of recording them
    progress: bool = True
    device: str | None = None  # "cpu" or "gpu"; None: the device JAX picks
    disk_cache: bool = False  # keep compiled kernels on disk (the CLI turns it on; see compile_watch)
    # Wall times in the page footer and the sidecar. Off by default: then the same input and
    # version give byte-identical HTML and JSON (a release artefact can be checked by its hash).
    timings: bool = False
    # Alert thresholds (DESIGN: they live in the config, not in the code that applies them).
    dead_rel: float = 1e-3  # unit dead when its max|w| <= dead_rel x the layer's median unit max|w|
    duplicate_cos: float = 0.995  # cosine similarity above which two units are near-duplicates
    duplicate_max_units: int = 4096  # wider layers: an evenly spaced sample of this many units
    norm_z: float = 3.5  # robust z-score of log10(rms) among tensors of one role
    norm_mad_floor: float = 0.1  # decades; keeps layers of different fan-in from looking odd
    extreme_abs: float = 100.0  # max|w| above this is an extreme magnitude
    # Views
    heatmap_max_cells: int = 256  # per side; larger matrices are block-pooled
    conv_max_out: int = 32  # output channels shown per conv layer
    conv_top_inputs: int = 8  # strongest input kernels shown per output channel
    # The page's size limit: above it, heatmaps are pooled coarser, then per-tensor plots are
    # left out (tensors with alerts last), and the page says so. 0 = no limit.
    max_report_mb: float = 25.0
    # Spectral diagnostics (defaults are WeightWatcher 0.7.7's)
    alpha_low: float = 2.0  # alpha below this: over-trained (over-fit, heavy-tailed) layer
    alpha_high: float = 6.0  # alpha above this: under-trained (near random) layer
    spectral_min_evals: int = 8  # fewer eigenvalues than this: not analysed
    spectral_max_evals: int = 15000  # more: not analysed (the xmin search is quadratic); 0 = no cap
    # Neuron maps (projections)
    projection_max_points: int = 5000  # units plotted per layer (PCA is fitted on all of them)
    projection_nonlinear_points: int = 500  # of those, units UMAP and t-SNE place, per layer
    projection_nonlinear_budget: int = 1000  # UMAP/t-SNE points in all; layers evenly spaced in depth
    joint_points: int = 600  # points in each cross-layer map, shared among its layers
    umap_neighbors: int = 15
    umap_epochs: int = 200
    tsne_perplexity: float = 30.0
    tsne_iterations: int = 500
    projection_seed: int = 0
    # Saliency (needs a ModelSpec)
    saliency_methods: tuple[str, ...] = SALIENCY_METHODS
    saliency_target: str | int = "predicted"  # predicted | label | a class index
    saliency_max_examples: int = 128  # examples attributed (evenly spaced when the spec has more)
    saliency_examples: int = 10  # of those, shown one by one (one per class first)
    saliency_batch: int = 64  # examples per compiled call
    smoothgrad_samples: int = 32
    smoothgrad_noise: float = 0.15  # noise σ as a fraction of the inputs' value range
    ig_steps: int = 128  # Integrated Gradients steps (trapezoid rule) to start with
    ig_max_steps: int = 512  # doubled up to this until the completeness tolerance is met
    ig_tolerance: float = 0.01  # largest relative completeness error accepted
    ig_baseline: str = "zeros"  # zeros | blurred (images) | mean (of the spec's inputs)
    saliency_seed: int = 0
    # Bias audit (needs a ModelSpec with groups and sensitive_features)
    bias_positive_class: int = 1  # the favourable outcome (e.g. "approved")
    bias_flip_threshold: float = 0.05  # counterfactual flip rate above this, with a top-3 share: alert
    bias_top_units: int = 3  # hidden units reported per layer
    bias_max_examples: int = 2000
    # Training dynamics (--training-log) and per-class importance (a ModelSpec with labels)
    vanishing_grad_rel: float = 1e-7  # late median |grad| / |w| below this: vanishing gradients
    exploding_grad_growth: float = 1e3  # grad norm above this multiple of its early median: exploding
    stalled_update_ratio: float = 1e-6  # late median |update| / |w| below this: the layer stopped changing
    importance_max_examples: int = 512  # examples the per-class gradients are taken over (evenly spaced)
    # Circuits: expanded weights, top connections, NMF factors (needs a ModelSpec)
    circuits_skip: int = 1  # expanded weights for consecutive layers and pairs skipping up to this many
    circuits_layers: tuple[str, ...] = ()  # layers shown with top connections; () = last conv + first hidden dense
    circuits_max_units: int = 16  # target units shown per view (largest expanded-weight norm)
    circuits_top_inputs: int = 6  # strongest source units shown per target unit
    circuits_examples: int = 4  # top-activating examples shown per unit
    circuits_max_examples: int = 2048  # examples searched for top activations (evenly spaced)
    circuits_nmf_factors: int = 3  # k of the one-sided NMF; 3 shows as RGB
    circuits_actmax_steps: int = 128  # gradient-ascent steps per image (image models); 0 = none
    circuits_actmax_gflop: float = 500.0  # its compute budget for all layers (XLA flop counts); 0 = none
    circuits_max_pairs: int = 12  # expanded-weight views drawn (pairs that skip a layer first); the sidecar has all
    circuits_max_mb: float = 256.0  # largest expanded-weight Jacobian computed; bigger pairs are noted
    workers: int = 0  # threads for per-tensor work; 0 = one per CPU core, at most 4


def parse_sections(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(s.strip() for s in items if s.strip())
    unknown = [s for s in names if s not in SECTIONS]
    if unknown:
        raise InputError(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}")
    if not names:
        raise InputError("--sections needs at least one section")
    return tuple(s for s in SECTIONS if s in names)  # page order, not argument order


def _check_saliency(values: dict[str, Any]) -> None:
    methods = values.get("saliency_methods")
    if methods is not None:
        methods = (methods,) if isinstance(methods, str) else tuple(methods)
        unknown = [m for m in methods if m not in SALIENCY_METHODS]
        if unknown or not methods:
            raise InputError(f"saliency_methods: unknown method {unknown[0] if unknown else '(none given)'!r}; "
                             f"choose from {', '.join(SALIENCY_METHODS)}")
        values["saliency_methods"] = tuple(m for m in SALIENCY_METHODS if m in methods)
    target = values.get("saliency_target")
    if target is not None and not (target in ("predicted", "label")
                                   or isinstance(target, int) and not isinstance(target, bool) and target >= 0):
        raise InputError(f"saliency_target must be 'predicted', 'label' or a class index, not {target!r}")
    if values.get("ig_baseline") not in (None, *BASELINES):
        raise InputError(f"ig_baseline must be one of {', '.join(BASELINES)}, not {values['ig_baseline']!r}")
    for key in ("circuits_max_units", "circuits_top_inputs", "circuits_max_pairs", "circuits_max_examples", "circuits_nmf_factors",
                "saliency_max_examples", "saliency_examples", "saliency_batch", "smoothgrad_samples",
                "ig_steps", "ig_max_steps"):
        if key in values and (not isinstance(values[key], int) or values[key] < 1):
            raise InputError(f"config key {key!r} must be a positive integer, not {values[key]!r}")


def _check_circuits(values: dict[str, Any]) -> None:
    layers = values.get("circuits_layers")
    if layers is not None:
        layers = (layers,) if isinstance(layers, str) else layers
        if not isinstance(layers, (list, tuple)) or not all(isinstance(x, str) for x in layers):
            raise InputError(f"circuits_layers must be a list of layer names, not {values['circuits_layers']!r}")
        values["circuits_layers"] = tuple(layers)
    for key in ("circuits_skip", "circuits_examples", "circuits_actmax_steps"):
        if key in values and (not isinstance(values[key], int) or values[key] < 0):
            raise InputError(f"config key {key!r} must be a non-negative integer, not {values[key]!r}")


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Read a TOML file (top-level keys or a [reportgen] table), then apply CLI overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"{path}: cannot read config: {exc}") from None
        values.update(data.get("reportgen", data))
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"unknown config key {unknown[0]!r}; known keys: {', '.join(sorted(known))}")
    if "sections" in values:
        values["sections"] = parse_sections(values["sections"])
    for f in dataclasses.fields(Config):
        if f.name in values and f.type in ("float", "int") and not isinstance(values[f.name], (int, float)):
            raise InputError(f"config key {f.name!r} must be a number, not {values[f.name]!r}")
    _check_saliency(values)
    _check_circuits(values)
    if values.get("max_report_mb", 0) < 0:
        raise InputError(f"max_report_mb must be 0 (no limit) or a size in MB, not {values['max_report_mb']!r}")
    if values.get("device") not in (None, "cpu", "gpu"):
        raise InputError(f"device must be 'cpu' or 'gpu', not {values['device']!r}")
    if values.get("layout") not in (None, "flax", "pytorch"):
        raise InputError(f"layout must be 'flax' or 'pytorch', not {values['layout']!r}")
    return Config(**values)
