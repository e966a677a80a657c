"""Spectral metrics against WeightWatcher 0.7.7's analyze() on PyTorch models built here.

Deliberate differences from WeightWatcher, each checked or excluded below:
- eigenvalues in float32 (SVD, or Gram + eigh for tall matrices) instead of float64 SVD;
- the KS search picks among float32 distances, so near-ties can choose a neighbouring xmin;
- matrix_rank's tolerance uses float32 eps (WeightWatcher: float64 eps on float32 data);
- the MP fit polishes its grid minimum with a finer grid instead of Nelder-Mead.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from reportgen import analyze, load
from reportgen.config import Config

if os.environ.get("CI"):  # .ci/run installs both; elsewhere the comparison skips without them
    import torch
    import weightwatcher
else:
    torch = pytest.importorskip("torch")
    weightwatcher = pytest.importorskip("weightwatcher")


def _heavy_tailed(rng, n: int, m: int, tail: float) -> np.ndarray:
    """n x m with Pareto singular values plus a little noise: a trained-looking ESD."""
    if n < m:
        return _heavy_tailed(rng, m, n, tail).T.copy()
    u, _ = np.linalg.qr(rng.standard_normal((n, m)))
    v, _ = np.linalg.qr(rng.standard_normal((m, m)))
    s = (rng.pareto(tail, m) + 1) * 0.1
    return ((u * s) @ v.T + 0.01 * rng.standard_normal((n, m))).astype(np.float32)


def _models():
    nn = torch.nn
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    dense = nn.Sequential(nn.Embedding(3000, 96), nn.Linear(784, 512), nn.Linear(512, 256),
                          nn.Linear(256, 256), nn.Linear(256, 128), nn.Linear(128, 64), nn.Linear(64, 10),
                          nn.Linear(1024, 300))
    conv = nn.Sequential(nn.Conv2d(3, 32, 3), nn.Conv2d(32, 64, 3), nn.Conv2d(64, 64, 5),
                         nn.Conv2d(64, 128, 1), nn.Conv2d(128, 96, 3))
    with torch.no_grad():
        # Half the layers keep PyTorch's random init (MP-like ESDs, large alpha); half get
        # heavy-tailed spectra like trained layers.
        for layer, tail in ((dense[1], 1.5), (dense[3], 2.5), (dense[5], 3.0), (dense[0], 2.0)):
            layer.weight.copy_(torch.from_numpy(_heavy_tailed(rng, *layer.weight.shape, tail)))
        for layer, tail in ((conv[1], 2.0), (conv[3], 3.0)):
            out, inp, kh, kw = layer.weight.shape
            slices = [_heavy_tailed(rng, out, inp, tail) for _ in range(kh * kw)]
            layer.weight.copy_(torch.from_numpy(np.stack(slices, -1).reshape(out, inp, kh, kw)))
    return {"dense": dense, "conv": conv}


def _ours(model, tmp_path) -> dict:
    from safetensors.numpy import save_file

    path = tmp_path / "model.safetensors"
    save_file({k: v.detach().numpy().copy() for k, v in model.state_dict().items()}, str(path))
    a = analyze(load(path), config=Config(strict=True, progress=False, sections=("spectral",)))
    return {t.name.removesuffix(".weight"): t.spectral for t in a.tensors if t.spectral is not None}


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_metrics_match_weightwatcher(kind, tmp_path):
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    model = _models()[kind]
    details = weightwatcher.WeightWatcher(model=model).analyze(mp_fit=True)
    ours = _ours(model, tmp_path)
    assert sorted(ours) == sorted(details["longname"]), "the same layers are analysed"
    alpha_err = []
    for _, row in details.iterrows():
        sp = ours[row["longname"]]
        assert sp.num_evals == row["num_evals"]
        for field in ("log_norm", "log_spectral_norm", "stable_rank"):
            assert getattr(sp, field) == pytest.approx(row[field], rel=1e-3), (row["longname"], field)
        assert sp.entropy == pytest.approx(row["entropy"], rel=1e-3)
        assert sp.matrix_rank == row["matrix_rank"]  # full rank here, so the eps choice does not show
        assert sp.log_alpha_norm == pytest.approx(row["log_alpha_norm"], rel=1e-2, abs=1e-3)
        assert abs(sp.num_spikes - row["num_spikes"]) <= 1
        assert sp.mp_softrank == pytest.approx(row["mp_softrank"], rel=1e-2)
        assert sp.bulk_max == pytest.approx(row["bulk_max"], rel=1e-2)
        alpha_err.append(abs(sp.alpha - row["alpha"]))
    alpha_err = np.array(alpha_err)
    assert np.mean(alpha_err <= 0.05) >= 0.9, alpha_err
    assert alpha_err.max() <= 0.2, alpha_err
