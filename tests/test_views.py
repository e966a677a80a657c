"""Weight views and alerts: planted defects give exactly their alerts; views keep orientation."""
from __future__ import annotations

import base64
import json
import zlib

import numpy as np
import pytest

import reportgen
from reportgen.analysis.units import conv_oi, unit_matrix
from reportgen.analysis.views import conv_filters, heatmap, pool_signed_extreme
from reportgen.config import Config


def healthy_model(seed: int = 0) -> dict[str, np.ndarray]:
    """A randomly initialised MLP/CNN in PyTorch layout, He-style scales, random biases."""
    rng = np.random.default_rng(seed)
    w = {"features.0.weight": rng.normal(0, (2 / 27) ** 0.5, (16, 3, 3, 3)),
         "features.0.bias": rng.normal(0, 0.01, 16),
         "features.1.weight": rng.normal(0, (2 / 144) ** 0.5, (32, 16, 3, 3)),
         "features.1.bias": rng.normal(0, 0.01, 32),
         "embed.weight": rng.normal(0, 1, (500, 64))}
    for i, (fan_in, out) in enumerate([(64, 128), (128, 128), (128, 128), (128, 64), (64, 10)]):
        w[f"mlp.{i}.weight"] = rng.normal(0, (2 / fan_in) ** 0.5, (out, fan_in))
        w[f"mlp.{i}.bias"] = rng.normal(0, 0.01, out)
    return {k: v.astype(np.float32) for k, v in w.items()}


def _alerts(arrays) -> set[tuple[str, str]]:
    # Weight checks only: random init is rightly "under-trained" to the spectral section.
    checks = Config(strict=True, progress=False, sections=("overview", "stats", "heatmaps", "filters"))
    a = reportgen.analyze(reportgen.load(arrays), config=checks)
    return {(al.kind, al.tensor) for al in a.alerts}


def test_healthy_random_model_has_no_alerts():
    assert _alerts(healthy_model()) == set()


def test_planted_defects_give_exactly_their_alerts():
    w = healthy_model()
    w["mlp.0.weight"][5, 3] = np.nan
    w["mlp.1.weight"][7] = 0.0  # a dead unit
    w["mlp.2.weight"][11] = w["mlp.2.weight"][40]  # two identical units
    w["mlp.3.weight"][:] = 0.0  # an all-zero tensor
    w["mlp.4.weight"] *= 10  # a 10x-norm outlier among the dense tensors
    assert _alerts(w) == {("non_finite", "mlp.0.weight"), ("dead_units", "mlp.1.weight"),
                          ("duplicate_units", "mlp.2.weight"), ("all_zero", "mlp.3.weight"),
                          ("norm_outlier", "mlp.4.weight")}


def test_dead_and_duplicate_indices():
    w = healthy_model()
    w["mlp.1.weight"][7] = 0.0
    w["mlp.2.weight"][11] = w["mlp.2.weight"][40] * 3  # scaled copy: cosine 1
    a = reportgen.analyze(reportgen.load(w), config=Config(strict=True))
    by_name = {t.name: t for t in a.tensors}
    assert by_name["mlp.1.weight"].units.dead == (7,)
    (i, j, cos), = by_name["mlp.2.weight"].units.duplicates
    assert (i, j) == (11, 40) and cos == pytest.approx(1.0, abs=1e-5)


def test_units_mean_the_same_in_both_layouts():
    rng = np.random.default_rng(0)
    torch_dense = rng.normal(size=(5, 7)).astype(np.float32)  # out, in
    np.testing.assert_array_equal(unit_matrix(torch_dense, "dense", "pytorch"),
                                  unit_matrix(torch_dense.T.copy(), "dense", "flax"))
    torch_conv = rng.normal(size=(8, 3, 5, 4)).astype(np.float32)  # OIHW
    flax_conv = torch_conv.transpose(2, 3, 1, 0)  # HWIO
    np.testing.assert_array_equal(conv_oi(flax_conv, "flax"), torch_conv)
    np.testing.assert_array_equal(unit_matrix(flax_conv, "conv", "flax"), torch_conv.reshape(8, -1))
    emb = rng.normal(size=(11, 4)).astype(np.float32)
    assert unit_matrix(emb, "embedding", "flax").shape == (11, 4)


def test_pooling_keeps_signed_extreme():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(37, 23)).astype(np.float32)
    pooled, bh, bw = pool_signed_extreme(m, 10, 10)
    assert (bh, bw) == (4, 3) and pooled.shape == (10, 8)
    for r in range(10):
        for c in range(8):
            block = m[r * bh:(r + 1) * bh, c * bw:(c + 1) * bw]
            assert pooled[r, c] == block.flat[np.argmax(np.abs(block))]
    m[0, 0] = np.nan
    assert np.isnan(pool_signed_extreme(m, 10, 10)[0][0, 0])


def test_embedding_30000x384_heatmap_within_budget():
    emb = np.random.default_rng(0).normal(size=(30000, 384)).astype(np.float32)
    h = heatmap(unit_matrix(emb, "embedding", "pytorch"), max_cells=256)
    assert h.codes.shape[0] <= 256 and h.codes.shape[1] <= 256 and h.codes.dtype == np.uint8
    assert (h.block_rows, h.block_cols, h.n_rows, h.n_cols) == (118, 2, 30000, 384)
    assert h.codes.min() == 0 and h.codes.max() == 254  # both saturated ends are used


def test_conv_filters_rank_inputs_by_l2_and_show_rgb():
    rng = np.random.default_rng(2)
    k = rng.normal(size=(6, 10, 3, 3)).astype(np.float32)
    f = conv_filters(k, max_out=4, top_inputs=3)
    norms = np.sqrt((k ** 2).sum(axis=(1, 2, 3)))
    assert f.mode == "top_inputs" and f.out_channels == tuple(sorted(np.argsort(-norms)[:4]))
    for o, ins in zip(f.out_channels, f.in_channels):
        assert ins == tuple(np.argsort(-np.sqrt((k[o] ** 2).sum(axis=(1, 2))))[:3])
    rgb = conv_filters(rng.normal(size=(16, 3, 5, 5)).astype(np.float32), max_out=32, top_inputs=8)
    assert rgb.mode == "rgb" and rgb.tiles.shape == (16, 5, 5, 3)
    assert conv_filters(rng.normal(size=(8, 4, 1, 1)).astype(np.float32), 32, 8) is None  # 1x1


def _packed_items(html: str) -> dict[str, dict]:
    import re

    return {m.group(1): json.loads(zlib.decompress(base64.b64decode(m.group(2))))
            for m in re.finditer(r'id="([^"]+)" data-plot="([^"]+)"', html)}


def test_demo_shows_filters_heatmaps_and_alerts(tmp_path):
    from reportgen.cli import main

    out = tmp_path / "demo.html"
    assert main(["demo", "-o", str(out), "-q"]) == 0
    html = out.read_text()
    items = _packed_items(html)
    data = reportgen.analyze(reportgen.load(reportgen.samples.weights_path("digits")))
    kernels = [i for i, t in enumerate(data.tensors) if t.role in ("dense", "conv")]
    assert len(kernels) == 4 and all(f"t{i}-heat" in items for i in kernels)
    first_conv = next(i for i, t in enumerate(data.tensors) if t.role == "conv")
    assert f"t{first_conv}-filters" in items and 'id="alerts"' in html
    # Heatmap pixels travel as binary uint8, never as a JSON list of numbers.
    heat = json.dumps(items[f"t{kernels[-1]}-heat"])
    assert '"dtype":"uint8"' in heat.replace(" ", "") and '"type":"bytes"' in heat.replace(" ", "")


def test_planted_model_report_links_alerts(tmp_path):
    from safetensors.numpy import save_file

    from reportgen.cli import main

    w = healthy_model()
    w["mlp.1.weight"][7] = 0.0
    save_file(w, str(tmp_path / "m.safetensors"))
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "m.safetensors"), "-o", str(out), "-q"]) == 0
    html = out.read_text()
    idx = [t.name for t in reportgen.load(tmp_path / "m.safetensors")].index("mlp.1.weight")
    assert f'<a href="#t{idx}" class="mono">mlp.1.weight</a>' in html and "Dead units" in html
