"""Spectral analysis against independent references: float64 numpy eigenvalues, a loop MLE/KS fit."""
from __future__ import annotations

import json

import numpy as np
import pytest

import reportgen
from reportgen.analysis.esd import GRAM_FLOOR, _eig_kernel, eigenvalues, matrices
from reportgen.analysis.powerlaw import fit_power_law
from reportgen.analysis.spectral import tensor_spectral
from reportgen.cli import main
from reportgen.config import Config

SPECTRAL_ONLY = Config(strict=True, progress=False, sections=("spectral",))


def _reference_evals(w: np.ndarray) -> np.ndarray:
    return np.sort(np.linalg.svd(w.astype(np.float64), compute_uv=False) ** 2)


def _with_spectrum(rng, n: int, m: int, singular_values: np.ndarray) -> np.ndarray:
    u, _ = np.linalg.qr(rng.standard_normal((n, m)))
    v, _ = np.linalg.qr(rng.standard_normal((m, m)))
    return ((u * singular_values) @ v.T).astype(np.float32)


def _heavy(rng, n: int, m: int, tail: float) -> np.ndarray:
    return _with_spectrum(rng, n, m, (rng.pareto(tail, m) + 1) * 0.1) + np.float32(0.01) * rng.standard_normal(
        (n, m)).astype(np.float32)


@pytest.mark.parametrize("shape, method", [((300, 300), "svd"), ((200, 120), "svd"), ((1500, 200), "gram")])
def test_eigenvalues_match_float64_svd(shape, method):
    w = np.random.default_rng(0).normal(0, 0.05, shape).astype(np.float32)
    evals, used = eigenvalues(matrices(w, "dense", "pytorch"))
    ref = _reference_evals(w)
    assert used == method
    # Square random matrices have eigenvalues down to ~1e-6 λmax: still accurate to 1e-3.
    np.testing.assert_allclose(evals, ref, rtol=1e-3)


def test_ill_conditioned_tall_matrix_falls_back_to_svd():
    """Gram + eigh in float32 cannot resolve λ << λmax; the check notices and takes the SVD."""
    rng = np.random.default_rng(1)
    sv = np.geomspace(1.0, 1e-3, 100)  # λ spans 1e6
    w = _with_spectrum(rng, 2000, 100, sv)
    evals, used = eigenvalues(matrices(w, "dense", "pytorch"))
    ref = _reference_evals(w)
    assert ref.min() < GRAM_FLOOR * ref.max() and used == "svd"
    gram = np.sort(np.asarray(_eig_kernel(w[None], np.float32(1), "gram"))[0])
    assert np.max(np.abs(gram - ref) / ref) > 0.1  # what the check protects against
    np.testing.assert_allclose(evals, ref, rtol=2e-2)  # λ = 1e-6 λmax to 2%
    np.testing.assert_allclose(evals[ref > 1e-4 * ref.max()], ref[ref > 1e-4 * ref.max()], rtol=1e-3)


def test_conv_slices_pool_halved_eigenvalues_in_both_layouts():
    rng = np.random.default_rng(2)
    oihw = rng.normal(0, 0.1, (16, 8, 3, 3)).astype(np.float32)
    ref = np.sort(np.concatenate([_reference_evals(oihw[:, :, i, j]) for i in range(3) for j in range(3)])) / 2
    for arr, layout in ((oihw, "pytorch"), (oihw.transpose(2, 3, 1, 0), "flax")):
        mats = matrices(arr, "conv", layout)
        assert (mats.n, mats.m, mats.slices.shape[0]) == (16, 8, 9)
        np.testing.assert_allclose(eigenvalues(mats)[0], ref, rtol=1e-4)


def _loop_fit(evals: np.ndarray) -> tuple[float, float, float]:
    """Clauset-Shalizi-Newman continuous power law, written out: (alpha, xmin, D) in float64."""
    x = np.sort(evals[evals > 1e-5]).astype(np.float64)
    n = x.size
    best = None
    for i in range(n - 1):
        tail = x[i:]
        k = tail.size
        s = np.sum(np.log(tail / x[i]))
        if n < 20:  # the small-sample estimator: bias-corrected alpha, KS penalised by tail size
            if k < 8 or s <= 1e-12:
                continue
            alpha = 1 + (k - 1) / s
        else:
            alpha = 1 + k / s
        cdf_fit = 1 - (tail / x[i]) ** (1 - alpha)
        D = np.max(np.abs(cdf_fit - np.arange(k) / k))
        score = D - 0.868 / np.sqrt(k) if n < 20 else D
        if best is None or score < best[0]:
            best = (score, alpha, x[i], D)
    return best[1], best[2], best[3]


@pytest.mark.parametrize("n, m, tail", [(400, 300, 1.5), (900, 500, 3.0), (300, 16, 2.0), (200, 12, 2.5)])
def test_power_law_fit_matches_loop_reference(n, m, tail):
    evals = _reference_evals(_heavy(np.random.default_rng(n), n, m, tail))
    fit = fit_power_law(evals)
    alpha, xmin, D = _loop_fit(evals)
    assert fit.small_n == (m < 20)
    assert fit.xmin == pytest.approx(xmin, rel=1e-5)
    assert fit.alpha == pytest.approx(alpha, rel=1e-4)
    assert fit.D == pytest.approx(D, abs=1e-4)
    assert fit.num_pl_spikes == int(np.sum(evals >= xmin))


def test_norm_metrics_follow_their_definitions():
    w = _heavy(np.random.default_rng(3), 500, 200, 2.5)
    sp = tensor_spectral(w, "dense", "pytorch", 8, 15000)
    ref = _reference_evals(w)
    assert sp.norm == pytest.approx(np.sum(w.astype(np.float64) ** 2), rel=1e-5)
    assert sp.log_norm == pytest.approx(np.log10(ref.sum()), rel=1e-5)
    assert sp.spectral_norm == pytest.approx(np.linalg.norm(w.astype(np.float64), 2) ** 2, rel=1e-5)
    assert sp.stable_rank == pytest.approx(ref.sum() / ref.max(), rel=1e-5)
    assert sp.alpha_weighted == pytest.approx(sp.alpha * np.log10(ref.max()), rel=1e-6)
    assert sp.log_alpha_norm == pytest.approx(np.log10(np.sum(ref ** sp.alpha)), rel=1e-4)
    p = ref / ref.sum()
    assert sp.entropy == pytest.approx(-np.sum(p * np.log(p)) / np.log(200), rel=1e-4)
    assert sp.matrix_rank == 200 and sp.num_evals == 200 and sum(sp.esd.counts) == 200


def test_low_rank_matrix_rank_counts_only_real_directions():
    rng = np.random.default_rng(4)
    w = (rng.standard_normal((300, 5)) @ rng.standard_normal((5, 100))).astype(np.float32)
    sp = tensor_spectral(w, "dense", "pytorch", 8, 15000)
    assert sp.matrix_rank == 5 and sp.method == "svd"


def test_too_small_and_broken_tensors_are_listed_with_a_reason():
    rng = np.random.default_rng(5)
    w = {"tiny.weight": rng.normal(size=(3, 2)).astype(np.float32),
         "zero.weight": np.zeros((32, 16), np.float32),
         "nan.weight": rng.normal(size=(32, 16)).astype(np.float32),
         "ok.weight": rng.normal(size=(64, 32)).astype(np.float32),
         "ok.bias": np.zeros(64, np.float32)}
    w["nan.weight"][0, 0] = np.nan
    a = reportgen.analyze(reportgen.load(w), config=SPECTRAL_ONLY)
    by = {t.name: t for t in a.tensors}
    assert by["tiny.weight"].spectral_skipped == "2 eigenvalues, fewer than spectral_min_evals = 8"
    assert by["zero.weight"].spectral_skipped == "every eigenvalue is 0 (an all-zero kernel)"
    assert by["nan.weight"].spectral_skipped == "the tensor has NaN or Inf values"
    assert by["ok.weight"].spectral is not None and by["ok.weight"].spectral_skipped is None
    assert by["ok.bias"].spectral is None and by["ok.bias"].spectral_skipped is None


def test_alpha_alerts_name_the_over_and_under_trained_layers():
    rng = np.random.default_rng(6)
    w = {"random.weight": rng.normal(0, 0.05, (1024, 512)).astype(np.float32),
         "heavy.weight": _heavy(rng, 600, 400, 1.0),
         "healthy.weight": _heavy(rng, 600, 400, 3.0)}
    a = reportgen.analyze(reportgen.load(w), config=SPECTRAL_ONLY)
    alphas = {t.name: t.spectral.alpha for t in a.tensors}
    assert alphas["random.weight"] > 6 and alphas["heavy.weight"] < 2 and 2 <= alphas["healthy.weight"] <= 6
    assert {(al.kind, al.tensor) for al in a.alerts} == {("under_trained", "random.weight"),
                                                        ("over_trained", "heavy.weight")}
    strict_band = Config(strict=True, progress=False, sections=("spectral",), alpha_high=100.0)
    kinds = {al.kind for al in reportgen.analyze(reportgen.load(w), config=strict_band).alerts}
    assert kinds == {"over_trained"}


def test_sidecar_and_page_carry_the_spectral_section(tmp_path):
    out, side = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["demo", "digits", "-o", str(out), "--json", str(side), "-q", "--timings"]) == 0
    data = json.loads(side.read_text())
    kernels = [t for t in data["tensors"] if t["name"].endswith("kernel")]
    assert len(kernels) == 4 and all(t["spectral"] is not None for t in kernels)
    keys = {"alpha", "alpha_weighted", "log_norm", "log_spectral_norm", "stable_rank", "entropy",
            "num_evals", "xmin", "D", "sigma", "matrix_rank", "num_pl_spikes", "bulk_max",
            "num_spikes", "mp_softrank", "esd_histogram"}
    assert keys <= set(kernels[0]["spectral"])
    assert data["timings"]["spectral_s"] > 0
    html = out.read_text()
    assert 'id="spectral-table"' in html and html.count('-esd" data-plot=') == 4
    assert "Marchenko-Pastur" in html and "WeightWatcher" in html
