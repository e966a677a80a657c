"""Neuron maps: one point per output unit; PCA for every layer, UMAP and t-SNE within a budget."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..config import Config
from ..types import JointMap, Layout, NeuronMap, Role
from . import embed2d, embed_worker
from .pca import pca, project, silhouettes

CLUSTER_DIMS = 10  # principal components the clustering sees
CLUSTER_SAMPLE = 500  # Ward's linkage is quadratic: fit on a sample, assign the rest
MAX_CLUSTERS = 8
MIN_CLUSTER_SIZE = 5  # k is at most n / 5: clusters of one or two units say nothing
# Kaufman & Rousseeuw: a mean silhouette under 0.25 means no substantial structure; then the
# layer gets one cluster rather than an arbitrary partition.
MIN_SILHOUETTE = 0.25


def evenly_spaced(n: int, cap: int) -> np.ndarray:
    """All of range(n), or `cap` evenly spaced indices: deterministic and covering the range."""
    if n <= cap:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, cap).round().astype(np.int64))


def head_groups(shape: tuple[int, ...], role: Role, layout: Layout) -> np.ndarray | None:
    """Attention heads where the kernel names them: Flax DenseGeneral (in, heads, head_dim)."""
    if role == "dense" and layout == "flax" and len(shape) == 3:
        heads, head_dim = shape[1], shape[2]
        return np.repeat(np.arange(heads), head_dim)
    return None


def clusters(coords: np.ndarray) -> tuple[np.ndarray, int, float]:
    """Ward clustering on leading PCs, k in 2..8 by the best mean silhouette.

    Ward's linkage is deterministic (no random restarts, unlike k-means), so the same
    weights always give the same colours; one linkage yields every k at once.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    n = coords.shape[0]
    if n < 2 * MIN_CLUSTER_SIZE:
        return np.zeros(n, np.int32), 1, float("nan")
    sample = evenly_spaced(n, CLUSTER_SAMPLE)
    x = coords[sample].astype(np.float64)
    tree = linkage(x, method="ward")
    ks = list(range(2, min(MAX_CLUSTERS, len(sample) // MIN_CLUSTER_SIZE) + 1))
    cuts = np.stack([fcluster(tree, k, criterion="maxclust") - 1 for k in ks])
    scores = silhouettes(x.astype(np.float32), cuts)
    best = int(np.argmax(scores))
    if scores[best] < MIN_SILHOUETTE:
        return np.zeros(n, np.int32), 1, float(scores[best])
    labels = cuts[best]
    k = int(labels.max()) + 1
    centres = np.stack([x[labels == c].mean(axis=0) for c in range(k)])
    full = np.argmin(((coords[:, None, :] - centres[None]) ** 2).sum(-1), axis=1).astype(np.int32)
    full[sample] = labels  # the sample keeps its own labels
    return full, k, float(scores[best])


def _top_inputs(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's 3 largest-|w| inputs, strongest first (argpartition: no full sort of the row)."""
    k = min(3, m.shape[1])
    a = np.abs(m)
    idx = np.argpartition(-a, k - 1, axis=1)[:, :k] if m.shape[1] > k else np.tile(np.arange(k), (len(m), 1))
    idx = np.take_along_axis(idx, np.argsort(-np.take_along_axis(a, idx, axis=1), axis=1, kind="stable"), axis=1)
    return idx.astype(np.int32), np.take_along_axis(m, idx, axis=1).astype(np.float32)


def neuron_map_async(m: np.ndarray, config: Config, nonlinear: bool, groups: np.ndarray | None = None,
                     group_label: str = "") -> Callable[[], NeuronMap] | str:
    """Everything but UMAP/t-SNE now, those submitted to the helper; call the result to collect.

    Or the reason there is no map. Waiting is deferred so that the helper's fits overlap the
    PCA of the layers that follow.
    """
    n, d = m.shape
    if n < 3:
        return f"{n} unit{'s' * (n != 1)}: too few to map"
    m = np.asarray(m, np.float32)
    if not np.isfinite(m).all():
        return "the tensor has NaN or Inf values"
    p = pca(m)
    if p is None or p.explained_variance_ratio.sum() == 0:
        return "every unit has the same weights: no variance to map"
    shown = evenly_spaced(n, config.projection_max_points)
    sub = m[shown]
    coords = project(sub, p)
    notes = []
    if len(shown) < n:
        notes.append(f"PCA fitted on all {n:,} units; {len(shown):,} evenly spaced units are plotted.")
    labels, k, sil = clusters(coords[:, :CLUSTER_DIMS])
    pending = None
    if nonlinear and len(shown) >= embed2d.MIN_POINTS:
        pick = evenly_spaced(len(shown), config.projection_nonlinear_points)
        features = coords[pick]
        pending = (pick, embed_worker.umap(features, features[:, :2], config.umap_neighbors, config.projection_seed,
                                           config.umap_epochs, config.disk_cache),
                   embed_worker.tsne(features, config.tsne_perplexity, config.projection_seed,
                                     config.tsne_iterations, config.disk_cache))
        if len(pick) < len(shown):
            notes.append(f"UMAP and t-SNE use {len(pick):,} of the plotted units (projection_nonlinear_points).")
    elif nonlinear:
        notes.append(f"UMAP and t-SNE need at least {embed2d.MIN_POINTS} units.")
    idx, top = _top_inputs(sub)
    # Only the map's own small arrays wait for UMAP/t-SNE: a closure holding `sub` or `coords`
    # would keep tens of MB per layer alive until every layer is collected.
    done = dict(n_units=n, fan_in=d, shown=shown.astype(np.int32), norms=np.linalg.norm(sub, axis=1).astype(np.float32),
                top_inputs=idx, top_weights=top, pca=coords[:, :2].astype(np.float32),
                explained_variance_ratio=tuple(float(v) for v in p.explained_variance_ratio),
                clusters=labels, n_clusters=k, silhouette=sil,
                groups=None if groups is None else groups[shown].astype(np.int32), group_label=group_label)
    del m, sub, coords, p

    def finish() -> NeuronMap:
        umap_xy = tsne_xy = None
        if pending is not None:
            pick, umap_future, tsne_future = pending
            umap_xy, tsne_xy = (np.full((len(done["shown"]), 2), np.nan, np.float32) for _ in range(2))
            umap_xy[pick], tsne_xy[pick] = umap_future.result(), tsne_future.result()
        return NeuronMap(**done, umap=umap_xy, tsne=tsne_xy, notes=tuple(notes))

    return finish


def neuron_map(m: np.ndarray, config: Config, nonlinear: bool, groups: np.ndarray | None = None,
               group_label: str = "") -> NeuronMap | str:
    """The map of one layer's units (rows of m), or the reason there is none."""
    found = neuron_map_async(m, config, nonlinear, groups, group_label)
    return found if isinstance(found, str) else found()


def joint_rows(m: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """A layer's part of a cross-layer map: `cap` evenly spaced unit directions (L2-normalised
    rows) and their unit indices; a copy, so the layer's weights can be released."""
    pick = evenly_spaced(m.shape[0], cap)
    rows = np.asarray(m[pick], np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1), pick.astype(np.int32)


def joint_map_async(fan_in: int, layers: list[tuple[str, np.ndarray, np.ndarray]], cap: int,
                    config: Config) -> Callable[[], JointMap] | None:
    """Layers sharing an input dimension, (name, rows, units) from joint_rows, projected together."""
    x = np.concatenate([rows for _, rows, _ in layers])
    p = pca(x)
    if p is None:
        return None
    coords = project(x, p)
    umap_future = None
    if x.shape[0] >= embed2d.MIN_POINTS:
        umap_future = embed_worker.umap(coords, coords[:, :2], config.umap_neighbors, config.projection_seed,
                                        config.umap_epochs, config.disk_cache)
    layer_of = np.concatenate([np.full(len(units), i, np.int32) for i, (_, _, units) in enumerate(layers)])

    def finish() -> JointMap:
        return JointMap(fan_in=fan_in, layers=tuple(name for name, _, _ in layers), layer_of=layer_of,
                        unit_of=np.concatenate([units for _, _, units in layers]),
                        pca=coords[:, :2].astype(np.float32),
                        umap=None if umap_future is None else umap_future.result(),
                        explained_variance_ratio=tuple(float(v) for v in p.explained_variance_ratio[:10]),
                        per_layer_cap=cap)

    return finish
