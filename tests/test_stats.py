"""Statistics against numpy/scipy on random tensors of several shapes and dtypes; jit discipline."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from scipy import stats as sps

import reportgen
from reportgen.analysis import compile_watch
from reportgen.analysis.stats import bucket, tensor_stats
from reportgen.types import PERCENTILES


def _reference(x: np.ndarray) -> dict:
    v = x.astype(np.float64).ravel()
    f = v[np.isfinite(v)]
    return dict(mean=f.mean(), std=f.std(), min=f.min(), max=f.max(), abs_mean=np.abs(f).mean(),
                rms=np.sqrt(np.mean(f ** 2)), frobenius_norm=np.linalg.norm(f),
                kurtosis=sps.kurtosis(f, fisher=True, bias=True), sparsity=np.mean(f == 0),
                near_zero_fraction=np.mean(np.abs(f) < 1e-3 * np.abs(f).max()),
                nan_count=int(np.isnan(v).sum()), inf_count=int(np.isinf(v).sum()),
                percentiles=np.percentile(f, PERCENTILES), abs_percentiles=np.percentile(np.abs(f), PERCENTILES))


@pytest.mark.parametrize("shape", [(7,), (33, 17), (3, 3, 8, 16), (1000, 300)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16])
def test_stats_match_numpy(shape, dtype):
    rng = np.random.default_rng(hash((shape, str(dtype))) % 2**32)
    x = (rng.standard_t(5, size=shape) * 0.05).astype(dtype)
    x.reshape(-1)[:: max(3, x.size // 5)] = 0  # some exact zeros
    (got, _), ref = tensor_stats(x), _reference(x)
    for key in ("mean", "std", "min", "max", "abs_mean", "rms", "frobenius_norm", "kurtosis"):
        atol = 1e-5 if key == "kurtosis" else 1e-7  # kurtosis of 7 values can sit near 0
        np.testing.assert_allclose(getattr(got, key), ref[key], rtol=2e-4, atol=atol, err_msg=key)
    for key in ("sparsity", "near_zero_fraction", "nan_count", "inf_count"):
        assert getattr(got, key) == pytest.approx(ref[key], abs=1e-6), key  # float32 ratios
    np.testing.assert_allclose(got.percentiles, ref["percentiles"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.abs_percentiles, ref["abs_percentiles"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16])
def test_big_tensors_in_blocks_match_numpy(dtype):
    """Above CHUNK values the statistics come from two passes over blocks (bounded memory)."""
    from reportgen.analysis.stats import CHUNK

    rng = np.random.default_rng(7)
    x = (rng.standard_t(5, size=CHUNK + 123_457) * 0.05 + 0.01).astype(dtype)
    x[::1000] = 0
    x[5], x[CHUNK + 9], x[17] = np.nan, np.inf, -np.inf
    (got, hist), ref = tensor_stats(x.reshape(-1, 7)), _reference(x)
    for key in ("mean", "std", "min", "max", "abs_mean", "rms", "frobenius_norm", "kurtosis"):
        np.testing.assert_allclose(getattr(got, key), ref[key], rtol=1e-5, err_msg=key)
    for key in ("sparsity", "near_zero_fraction", "nan_count", "inf_count"):
        assert getattr(got, key) == pytest.approx(ref[key], abs=1e-7), key
    np.testing.assert_allclose(got.percentiles, ref["percentiles"], rtol=1e-6)
    np.testing.assert_allclose(got.abs_percentiles, ref["abs_percentiles"], rtol=1e-6)
    f = x[np.isfinite(x)].astype(np.float32)
    expect, _ = np.histogram(f, bins=len(hist.counts), range=(hist.edges[0], hist.edges[-1]))
    assert np.abs(np.array(hist.counts) - expect).max() <= 2 and sum(hist.counts) == f.size  # edge rounding


def test_non_finite_values_are_counted_and_excluded():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    x[0, 0], x[1, 1], x[2, 2] = np.nan, np.inf, -np.inf
    (got, _), ref = tensor_stats(x), _reference(x)
    assert (got.nan_count, got.inf_count) == (1, 2)
    assert got.mean == pytest.approx(ref["mean"]) and got.max == ref["max"]
    np.testing.assert_allclose(got.percentiles, ref["percentiles"], rtol=1e-6)


def test_integer_and_bool_tensors():
    got, _ = tensor_stats(np.array([[1, 2], [3, 4]], dtype=np.int64))
    assert got.mean == 2.5 and got.max == 4
    assert tensor_stats(np.array([True, False, False, False]))[0].sparsity == 0.75


@pytest.mark.parametrize("values", [np.linspace(-3, 2, 1001), np.abs(np.linspace(-3, 2, 1001)), np.zeros(10)])
def test_histogram_matches_numpy(values):
    _, hist = tensor_stats(values.astype(np.float32))
    lo, hi = hist.edges[0], hist.edges[-1]
    if values.min() < 0:
        assert lo == -hi == -np.abs(values).max()  # symmetric around zero for signed weights
    else:
        assert lo == 0
    counts, _ = np.histogram(values.astype(np.float32), bins=np.asarray(hist.edges, np.float32))
    np.testing.assert_array_equal(hist.counts, counts)


def test_buckets_bound_compilations():
    sizes = [bucket(n) for n in range(1, 200_000, 97)]
    assert all(b >= n for b, n in zip(sizes, range(1, 200_000, 97)))
    assert all(b <= max(256, 1.5 * n) for b, n in zip(sizes, range(1, 200_000, 97)))
    assert len(set(sizes)) <= 22  # ~2 per octave


def test_second_analysis_compiles_nothing(strict):
    rng = np.random.default_rng(0)
    tree = {"params": {f"Dense_{i}": {"kernel": rng.normal(size=(8 + i, 5 + 3 * i)).astype(np.float32),
                                      "bias": np.zeros(5 + 3 * i, np.float32)} for i in range(4)}}
    weights = reportgen.load(tree)
    reportgen.analyze(weights, config=strict)
    before = compile_watch.snapshot()[0]
    second = reportgen.analyze(reportgen.load(tree), config=strict)
    assert compile_watch.snapshot()[0] == before
    assert second.timings.compile_count == 0
