"""Neuron maps against scikit-learn (PCA, silhouettes), brute-force kNN, and in the demo report."""
from __future__ import annotations

import base64
import json
import re
import zlib

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

import reportgen
from reportgen.analysis.pca import nearest_neighbours, pca, project, silhouettes
from reportgen.analysis.projection import clusters, evenly_spaced, neuron_map
from reportgen.cli import main
from reportgen.config import Config

MAPS_ONLY = Config(strict=True, progress=False, sections=("projections",))


def _sklearn_evr(x: np.ndarray, k: int) -> np.ndarray:
    return PCA(svd_solver="full").fit(x.astype(np.float64)).explained_variance_ratio_[:k]


@pytest.mark.parametrize("shape", [(500, 100), (100, 500), (64, 512), (30, 9), (1200, 300)])
def test_explained_variance_matches_sklearn(shape):
    rng = np.random.default_rng(shape[0])
    # Noise plus two strong directions, so PC1 and PC2 are well separated and comparable.
    signal = rng.normal(size=(shape[0], 2)) * [3.0, 1.5] @ rng.normal(size=(2, shape[1])) / np.sqrt(shape[1])
    x = (rng.normal(0, 0.1, shape) + signal + 0.05).astype(np.float32)
    p = pca(x)
    k = len(p.explained_variance_ratio)
    assert k == min(50, *shape)
    np.testing.assert_allclose(p.explained_variance_ratio, _sklearn_evr(x, k), atol=1e-5, rtol=0)
    # Coordinates span the same plane as sklearn's (up to the sign of each axis).
    ours, theirs = project(x, p)[:, :2], PCA(2).fit_transform(x.astype(np.float64))
    np.testing.assert_allclose(np.abs(ours), np.abs(theirs), atol=1e-3 * np.abs(theirs).max())


def test_tiny_rank_one_constant_and_wide_layers():
    rng = np.random.default_rng(0)
    tiny = rng.normal(size=(5, 12)).astype(np.float32)
    np.testing.assert_allclose(pca(tiny).explained_variance_ratio, _sklearn_evr(tiny, 5), atol=1e-5)
    rank1 = np.outer(rng.normal(size=40), rng.normal(size=16)).astype(np.float32)
    evr = pca(rank1).explained_variance_ratio
    np.testing.assert_allclose(evr, _sklearn_evr(rank1, len(evr)), atol=1e-5)
    assert evr[0] == pytest.approx(1.0, abs=1e-5)
    assert pca(np.ones((20, 8), np.float32)) is None  # sklearn: NaN with a RuntimeWarning
    assert neuron_map(np.ones((20, 8), np.float32), MAPS_ONLY, True) == \
        "every unit has the same weights: no variance to map"
    wide = rng.normal(size=(10, 1024)).astype(np.float32)
    np.testing.assert_allclose(pca(wide).explained_variance_ratio, _sklearn_evr(wide, 10), atol=1e-5)
    assert neuron_map(rng.normal(size=(2, 5)).astype(np.float32), MAPS_ONLY, True) == "2 units: too few to map"


def test_big_layers_use_subspace_iteration_within_1e5_on_decaying_spectra():
    rng = np.random.default_rng(1)
    u, _ = np.linalg.qr(rng.normal(size=(2000, 1600)))
    v, _ = np.linalg.qr(rng.normal(size=(1600, 1600)))
    x = ((u * np.geomspace(1, 1e-3, 1600)) @ v.T).astype(np.float32)
    evr = pca(x).explained_variance_ratio
    np.testing.assert_allclose(evr, _sklearn_evr(x, 50), atol=1e-5)


def test_knn_and_silhouettes_match_brute_force_and_sklearn():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 1, (60, 5)), rng.normal(6, 1, (40, 5))]).astype(np.float32)
    idx, dist = nearest_neighbours(x, 7)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.testing.assert_array_equal(idx[:, 0], np.arange(100))  # self first, as umap expects
    np.testing.assert_allclose(dist, np.sort(d, axis=1)[:, :7], atol=1e-3)
    labels = np.stack([np.r_[np.zeros(60), np.ones(40)], rng.integers(0, 3, 100)]).astype(np.int32)
    np.testing.assert_allclose(silhouettes(x, labels), [silhouette_score(x, lab) for lab in labels], atol=1e-4)
    found, k, score = clusters(x)
    assert k == 2 and score == pytest.approx(silhouette_score(x, found), abs=1e-4)
    assert len(set(found[:60])) == 1 and len(set(found[60:])) == 1


def test_maps_are_seeded_quiet_and_reproducible(recwarn, capfd):
    rng = np.random.default_rng(3)
    m = rng.normal(size=(12, 30)).astype(np.float32)  # fewer units than UMAP's 15 neighbours
    first, second = neuron_map(m, MAPS_ONLY, True), neuron_map(m, MAPS_ONLY, True)
    for a, b in ((first.pca, second.pca), (first.umap, second.umap), (first.tsne, second.tsne)):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(first.umap).all() and np.isfinite(first.tsne).all()
    assert len(recwarn) == 0
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_subsample_caps_are_deterministic_and_stated():
    assert list(evenly_spaced(10, 4)) == [0, 3, 6, 9]
    m = np.random.default_rng(4).normal(size=(3000, 16)).astype(np.float32)
    config = Config(strict=True, projection_max_points=500, projection_nonlinear_points=200)
    nm = neuron_map(m, config, True)
    assert len(nm.shown) == 500 and np.isfinite(nm.umap).all(axis=1).sum() == 200
    assert any("500 evenly spaced" in n for n in nm.notes) and any("200 of the plotted" in n for n in nm.notes)


def test_cross_layer_map_joins_layers_with_one_fan_in():
    rng = np.random.default_rng(5)
    w = {f"block{i}.weight": rng.normal(size=(64, 32)).astype(np.float32) for i in range(3)}
    w["head.weight"] = rng.normal(size=(10, 64)).astype(np.float32)
    a = reportgen.analyze(reportgen.load(w), config=MAPS_ONLY)
    (joint,) = a.joint_maps
    assert joint.fan_in == 32 and joint.layers == ("block0.weight", "block1.weight", "block2.weight")
    assert sorted(set(joint.layer_of)) == [0, 1, 2] and joint.pca.shape == (192, 2) and joint.umap is not None


def _items(html: str) -> dict[str, dict]:
    packed = re.findall(r'id="([^"]+)" data-plot="([^"]+)"', html)
    return {pid: json.loads(zlib.decompress(base64.b64decode(data))) for pid, data in packed}


@pytest.mark.parametrize("target", ["digits", "credit"])
def test_demo_reports_show_linked_pca_umap_tsne(target, tmp_path):
    out, side = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["demo", target, "-o", str(out), "--json", str(side), "-q"]) == 0
    data = json.loads(side.read_text())
    mapped = {t["name"]: t["neuron_map"] for t in data["tensors"] if t["neuron_map"]}
    roles = {t["role"] for t in data["tensors"] if t["neuron_map"]}
    assert roles == ({"conv", "dense"} if target == "digits" else {"dense"})
    assert all(m["views"] == ["pca", "umap", "tsne"] for m in mapped.values())
    maps = {k: v for k, v in _items(out.read_text()).items() if k.endswith("-map")}
    assert len(maps) == len(mapped)
    for item in maps.values():
        text = json.dumps(item)
        sources = set(re.findall(r'"data_source": \{"id": "([^"]+)"', text))
        assert len(sources) == 1, "the three views share one data source, so selections link"
        assert text.count('"name": "units"') == 3


def test_map_templates_survive_the_process_in_the_cli_cache(tmp_path, monkeypatch):
    from reportgen import cache
    from reportgen.report import maps_figures
    from reportgen.report.structure import NeuronMapChart

    monkeypatch.setenv("REPORTGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_root", None)
    monkeypatch.setattr(maps_figures, "_TEMPLATES", {})
    assert cache.enable() == tmp_path / "cache"

    def spec(i: int, n: int) -> NeuronMapChart:
        xy = np.random.default_rng(i).normal(size=(n, 2)).astype(np.float32)
        return NeuronMapChart(id=f"t{i}-map", title="m", units=np.arange(n), views=(("pca", xy),),
                              norms=np.ones(n), top_inputs=("in 0 (+1)",) * n, scree=(0.5, 0.3))

    first = json.loads(maps_figures.neuron_map_item(spec(1, 7)))
    assert len(list((tmp_path / "cache" / "templates").iterdir())) == 1
    maps_figures._TEMPLATES.clear()  # as in a new process: only the disk copy is left
    second = json.loads(maps_figures.neuron_map_item(spec(2, 11)))
    compact = lambda item: json.dumps(item, separators=(",", ":"))  # noqa: E731
    assert compact(first).count('"name":"units"') == compact(second).count('"name":"units"') == 1
    assert '"shape":[11]' in compact(second)
    assert second["root_id"] == "pt2map_0"  # ids renumbered from the figure's own id
    # Built by Bokeh (cold cache) or from the stored template: the same bytes.
    maps_figures._TEMPLATES.clear()
    assert json.loads(maps_figures.neuron_map_item(spec(1, 7))) == first


def test_helper_process_gives_the_in_process_result_and_survives_its_death():
    """UMAP/t-SNE in the helper process equal the same calls in-process; a dead helper falls back."""
    from reportgen.analysis import embed2d, embed_worker

    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 10)).astype(np.float32)
    local_umap = embed2d.umap_2d(x, x[:, :2], 15, 0, 50)
    local_tsne = embed2d.tsne_2d(x, 30.0, 0, 250)
    embed_worker.start(False)
    helper = embed_worker._helper
    assert helper is not None and helper.proc.poll() is None
    np.testing.assert_array_equal(embed_worker.umap(x, x[:, :2], 15, 0, 50, False).result(), local_umap)
    np.testing.assert_allclose(embed_worker.tsne(x, 30.0, 0, 250, False).result(), local_tsne, rtol=1e-5, atol=1e-5)
    helper.proc.kill()
    helper.proc.wait()
    np.testing.assert_array_equal(embed_worker.umap(x, x[:, :2], 15, 0, 50, False).result(), local_umap)
    embed_worker.start(False)  # a later analysis gets a fresh helper
    assert embed_worker._helper is not helper and embed_worker._helper.proc.poll() is None
