"""The checkpoint-diff phase: every tensor of the report against the same-named one of --compare."""
from __future__ import annotations

from ..config import Config
from ..progress import Progress
from ..types import CheckpointDiff, ModelWeights, TensorAnalysis
from .diff import tensor_diff
from .units import is_matrix_like


def diff_phase(weights: ModelWeights, other: ModelWeights, results: list[TensorAnalysis], config: Config,
               progress: Progress) -> CheckpointDiff:
    from .spectral import tensor_spectral

    theirs = {r.name: r for r in other}
    pairs = [(i, r, theirs[r.name]) for i, r in enumerate(weights) if r.name in theirs]
    mismatched = tuple((r.name, r.shape, o.shape) for _, r, o in pairs if r.shape != o.shape)
    pairs = [(i, r, o) for i, r, o in pairs if r.shape == o.shape and r.size > 0]
    diffs = []
    with progress.phase(f"checkpoint diff of {len(pairs)} tensors against {other.source}"):
        for n, (i, r, o) in enumerate(pairs, 1):
            progress.step(n, len(pairs), r.name)
            before, after = o.load(), r.load()
            spectral_before = None
            if "spectral" in config.sections and is_matrix_like(r) and results[i].spectral is not None:
                found = tensor_spectral(before, o.role, o.layout, config.spectral_min_evals, config.spectral_max_evals)
                spectral_before = None if isinstance(found, str) else found
            diffs.append(tensor_diff(r.name, before, after, r.role, r.layout, config.heatmap_max_cells,
                                     spectral_before, results[i].spectral))
            del before, after  # streaming: one pair in memory at a time
    mine = {r.name for r in weights}
    return CheckpointDiff(other=other.source, tensors=tuple(diffs),
                          only_here=tuple(r.name for r in weights if r.name not in theirs),
                          only_there=tuple(r.name for r in other if r.name not in mine), mismatched=mismatched)
