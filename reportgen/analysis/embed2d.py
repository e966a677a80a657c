"""UMAP (umap-learn) and t-SNE (scikit-learn) maps of unit vectors: seeded, quiet, compiled once."""
from __future__ import annotations

import functools
import threading
import warnings

import numpy as np

MIN_POINTS = 8  # below this a neighbour graph or a perplexity means nothing
_lock = threading.Lock()  # umap's numba code is not re-entrant across threads during compilation


@functools.lru_cache(maxsize=1)
def load_umap(disk_cache: bool = False):
    """Import umap-learn once; with disk_cache, keep its numba machine code between processes.

    umap marks almost none of its numba functions cache=True, so every process recompiled
    them (about 8 s here, with the kNN graph precomputed). Turning caching on for its
    module-level dispatchers lets numba's own cache (next to the package, or the user cache
    dir when that is read-only) serve later processes.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import numba
        import umap
        import umap.layouts
        import umap.umap_
        import umap.utils
    if disk_cache:
        for module in (umap.umap_, umap.layouts, umap.utils):
            for value in vars(module).values():
                if isinstance(value, numba.core.registry.CPUDispatcher):
                    try:
                        value.enable_caching()
                    except Exception:  # caching is an optimisation; compiling still works
                        pass
    return umap


def knn(x: np.ndarray, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact kNN graph UMAP starts from (JAX), with k capped by the number of points."""
    from .pca import nearest_neighbours

    return nearest_neighbours(x, min(neighbours, x.shape[0] - 1))


def umap_fit(x: np.ndarray, init: np.ndarray, idx: np.ndarray, dist: np.ndarray, seed: int, epochs: int,
             disk_cache: bool = False) -> np.ndarray:
    """UMAP of the rows of x from a precomputed kNN graph and a PCA start (no JAX needed)."""
    umap = load_umap(disk_cache)
    # UMAP expects an initial layout of spread ~10; PCA coordinates, rescaled, are a
    # deterministic start that skips its spectral initialisation.
    start = init / max(float(np.abs(init).max()), 1e-12) * 10
    with _lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs vs random_state, no NNDescent index: both expected
        model = umap.UMAP(n_neighbors=idx.shape[1], n_components=2, random_state=seed, n_epochs=epochs,
                          init=start.astype(np.float32), precomputed_knn=(idx.copy(), dist.copy(), None))
        return np.asarray(model.fit_transform(x), np.float32)


def umap_2d(x: np.ndarray, init: np.ndarray, neighbours: int, seed: int, epochs: int,
            disk_cache: bool = False) -> np.ndarray:
    """UMAP of the rows of x from an exact kNN graph (computed in JAX) and a PCA start."""
    idx, dist = knn(x, neighbours)
    return umap_fit(x, init, idx, dist, seed, epochs, disk_cache)


def tsne_2d(x: np.ndarray, perplexity: float, seed: int, iterations: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sklearn.manifold import TSNE

        p = float(min(perplexity, (x.shape[0] - 1) / 3))
        model = TSNE(n_components=2, perplexity=p, init="pca", learning_rate="auto",
                     random_state=seed, max_iter=max(250, iterations))
        return np.asarray(model.fit_transform(np.asarray(x, np.float32)), np.float32)
