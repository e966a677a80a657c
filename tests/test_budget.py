"""The page-size budget: coarser heatmaps first, then plots left out, alerted tensors last."""
from __future__ import annotations

import math
import re

import numpy as np

import reportgen
from reportgen.analysis.views import heatmap, pool_signed_extreme, quantize
from reportgen.config import Config

SECTIONS = ("overview", "stats", "heatmaps")


def test_coarser_heatmaps_equal_pooling_the_weights_directly():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((300, 500)).astype(np.float32)
    m[7, 11], m[8, 12] = 40.0, -30.0  # both saturate; the coarse cell must keep the larger
    m[200, 3] = np.nan
    h = heatmap(m, 256)
    assert (h.block_rows, h.block_cols) == (2, 2) and len(h.coarser) == 2
    for side, c in zip((128, 64), h.coarser):
        fr, fc = math.ceil(150 / side), math.ceil(250 / side)
        assert (c.block_rows, c.block_cols) == (2 * fr, 2 * fc) and max(c.codes.shape) <= side
        direct, bh, bw = pool_signed_extreme(m, math.ceil(300 / (2 * fr)), math.ceil(500 / (2 * fc)))
        assert (bh, bw) == (c.block_rows, c.block_cols)
        np.testing.assert_array_equal(c.codes, quantize(direct, h.clip))  # same colour limit
        assert c.codes[200 // bh, 3 // bw] == 255  # NaN survives
        assert c.outliers[0] == (7 // bh, 11 // bw, 40.0)
    half, quarter = heatmap(m[:100, :100], 256).coarser
    assert half is None and quarter.codes.shape == (50, 50)  # within 128 already; 64 pools it
    assert heatmap(m[:60, :60], 256).coarser == (None, None)


def _model(tmp_path, n: int = 12):
    rng = np.random.default_rng(1)
    arrays = {f"layer{i}.weight": rng.normal(0, 0.05, (256, 256)).astype(np.float32) for i in range(n)}
    arrays["layer5.weight"][3, :4] = np.nan  # an error alert (random weights get warnings)
    from safetensors.numpy import save_file

    path = tmp_path / "m.safetensors"
    save_file(arrays, str(path))
    return path


def _page(tmp_path, path, budget: float) -> tuple[str, int]:
    out = tmp_path / f"r{budget}.html"
    reportgen.generate_report(path, out, config=Config(sections=SECTIONS, progress=False, max_report_mb=budget))
    return out.read_text(encoding="utf-8"), out.stat().st_size


def _heat_cells(page: str) -> list[str]:
    return re.findall(r'<div class="plot plot-heat" id="(t\d+)-heat"', page)


def test_budget_coarsens_then_leaves_out_alerted_tensors_last(tmp_path):
    path = _model(tmp_path)
    full, full_size = _page(tmp_path, path, 0)
    assert "Size budget" not in full and len(_heat_cells(full)) == 12
    # Between the full page and the page without heatmaps: pooling alone is enough.
    budget = (full_size - 0.5e6) / 1e6
    page, size = _page(tmp_path, path, budget)
    assert size <= budget * 1e6
    assert "heatmaps pooled to at most 128 cells per side" in page and len(_heat_cells(page)) == 12
    assert "left out to keep the report" not in page
    # BokehJS plus the histograms, with room for 3 coarse heatmaps.
    none, none_size = _page(tmp_path, path, 1.0)
    assert "even with" in none and _heat_cells(none) == [] and none.count("Heatmap left out") == 12
    tight = (none_size + 3.2 * 12e3) / 1e6
    page, size = _page(tmp_path, path, tight)
    kept = _heat_cells(page)
    assert size <= tight * 1e6 and 0 < len(kept) < 12, (size, kept)
    assert "t7" in kept  # layer5 (file order: layer0, 1, 10, 11, 2, ...) has the NaN: kept first
    assert page.count("Heatmap left out") == 12 - len(kept)
