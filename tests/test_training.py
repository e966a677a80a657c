"""Training dynamics: the recorder against numpy, checkpoint diffs, per-class importance, alerts."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

import reportgen
from reportgen.analysis.diff import tensor_diff
from reportgen.analysis.importance import class_gradients
from reportgen.analysis.training import summarize, training_alerts
from reportgen.cli import main
from reportgen.errors import InputError
from reportgen.io.training_log import load_training_log
from reportgen.recorder import TrainingRecorder
from reportgen.samples import resource_dir


def _tree(rng, scale=1.0):
    return {"Dense_0": {"kernel": rng.normal(0, scale, (6, 4)).astype(np.float32),
                        "bias": rng.normal(0, scale, 4).astype(np.float32)},
            "Dense_1": {"kernel": rng.normal(0, scale, (4, 3)).astype(np.float32)}}


def test_recorder_norms_and_histograms_equal_numpy():
    rng = np.random.default_rng(0)
    rec = TrainingRecorder(every=2, bins=16)
    kept = []
    for step in range(10):
        params, grads, updates = _tree(rng), _tree(rng, 0.1), _tree(rng, 0.01)
        grads["Dense_0"]["bias"][:2] = 0.0  # exact zeros: counted
        rec.record(step, params, grads, updates=updates, loss=1.0 / (step + 1), metrics={"acc": step / 10})
        if step % 2 == 0:
            kept.append((params, grads, updates))
    buf = io.BytesIO()
    rec.save(buf)
    buf.seek(0)
    log = load_training_log(buf)
    assert log.names == ("Dense_0/bias", "Dense_0/kernel", "Dense_1/kernel")
    np.testing.assert_array_equal(log.steps, [0, 2, 4, 6, 8])
    np.testing.assert_allclose(log.loss, [1 / (s + 1) for s in (0, 2, 4, 6, 8)], rtol=1e-6)
    assert dict(log.metrics)["acc"][-1] == pytest.approx(0.8)
    leaf = lambda tree, t: [tree["Dense_0"]["bias"], tree["Dense_0"]["kernel"], tree["Dense_1"]["kernel"]][t]  # noqa: E731
    for s, (params, grads, updates) in enumerate(kept):
        for t in range(3):
            p, g, u = (leaf(x, t).astype(np.float64).ravel() for x in (params, grads, updates))
            assert log.param_norm[s, t] == pytest.approx(np.linalg.norm(p), rel=1e-6)
            assert log.grad_norm[s, t] == pytest.approx(np.linalg.norm(g), rel=1e-6)
            assert log.update_norm[s, t] == pytest.approx(np.linalg.norm(u), rel=1e-6)
            assert log.zero_grad_fraction[s, t] == pytest.approx(np.mean(g == 0))
            edges = log.grad_edges[t]
            expect, _ = np.histogram(np.clip(g, edges[0], edges[-1]), bins=edges)
            np.testing.assert_array_equal(log.grad_hist[s, t], expect)
    # Edges are fixed at the first record: symmetric, twice its largest |value|.
    first = np.abs(leaf(kept[0][0], 1)).max()
    assert log.param_edges[1][-1] == pytest.approx(2 * first) and log.param_edges[1][0] == pytest.approx(-2 * first)


def test_recorder_summarize_fuses_into_a_jitted_step():
    import jax

    rng = np.random.default_rng(1)
    params, grads = _tree(rng), _tree(rng)
    rec = TrainingRecorder()
    rec.start(params, grads)
    fused = jax.jit(lambda p, g: rec.summarize(p, g))(params, grads)
    rec.append(0, fused, loss=0.5)
    log = load_training_log(_saved(rec))
    assert log.grad_norm[0, 1] == pytest.approx(np.linalg.norm(grads["Dense_0"]["kernel"]), rel=1e-6)
    assert np.isnan(log.update_norm).all()  # no updates given


def _saved(rec) -> io.BytesIO:
    buf = io.BytesIO()
    rec.save(buf)
    buf.seek(0)
    return buf


def test_alerts_on_planted_dynamics():
    rng = np.random.default_rng(2)
    rec = TrainingRecorder()
    for step in range(40):
        params, grads, updates = _tree(rng), _tree(rng, 0.1), _tree(rng, 1e-3)
        grads["Dense_1"]["kernel"] *= 0.0  # frozen: no gradient, no update
        updates["Dense_1"]["kernel"] *= 0.0
        grads["Dense_0"]["bias"] *= 10.0 ** (step / 4)  # grows 10x every 4 steps: ~1e9 by the end
        rec.record(step, params, grads, updates=updates, loss=1.0)
    t = summarize(load_training_log(_saved(rec)), ("params/Dense_0/bias", "params/Dense_0/kernel", "params/Dense_1/kernel"))
    assert [d.tensor for d in t.tensors] == ["params/Dense_0/bias", "params/Dense_0/kernel", "params/Dense_1/kernel"]
    found = {(a.kind, a.tensor) for a in training_alerts(t, 1e-7, 1e3, 1e-6)}
    assert found == {("exploding_gradients", "params/Dense_0/bias"), ("vanishing_gradients", "params/Dense_1/kernel"),
                     ("stalled_layer", "params/Dense_1/kernel")}


def test_bad_training_logs_are_refused(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    for bad, needle in (("other.npz", "not a training log"), ("junk.npz", "not a training log"),
                        ("missing.npz", "no such file")):
        with pytest.raises(InputError, match=needle):
            load_training_log(tmp_path / bad)
    from safetensors.numpy import save_file

    save_file({"a.weight": np.ones((4, 4), np.float32)}, str(tmp_path / "m.safetensors"))
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "m.safetensors"), "-o", str(out), "-q",
                 "--training-log", str(tmp_path / "other.npz")]) == 2
    assert not out.exists()


def test_diff_of_a_model_with_itself_is_exactly_zero(tmp_path):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(3)
    arrays = {"a.weight": rng.normal(size=(64, 32)).astype(np.float32), "a.bias": rng.normal(size=64).astype(np.float32),
              "emb.weight": rng.normal(size=(100, 32)).astype(np.float32)}
    save_file(arrays, str(tmp_path / "m.safetensors"))
    a = reportgen.analyze(reportgen.load(tmp_path / "m.safetensors"), compare=tmp_path / "m.safetensors",
                          config=reportgen.Config(progress=False, sections=("stats", "spectral", "diff")))
    assert len(a.diff.tensors) == 3 and not (a.diff.only_here or a.diff.only_there or a.diff.mismatched)
    for t in a.diff.tensors:
        assert t.rel_change == 0 and t.max_abs_change == 0 and t.cosine == pytest.approx(1, abs=1e-12)
        assert t.delta_rank in (None, 0) and t.energy_rank in (None, 0)
        assert t.alpha_before == t.alpha_after


def test_planted_rank_2_update_and_missing_tensors(tmp_path):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(4)
    w = rng.normal(0, 0.05, (96, 64)).astype(np.float32)
    low = (rng.normal(size=(96, 2)) @ rng.normal(size=(2, 64)) * 0.01).astype(np.float32)  # a LoRA-style update
    save_file({"x.weight": w, "gone.weight": w[:4]}, str(tmp_path / "base.safetensors"))
    save_file({"x.weight": w + low, "new.weight": w[:8]}, str(tmp_path / "tuned.safetensors"))
    a = reportgen.analyze(reportgen.load(tmp_path / "tuned.safetensors"), compare=tmp_path / "base.safetensors",
                          config=reportgen.Config(progress=False, sections=("stats", "diff")))
    (d,) = a.diff.tensors
    assert d.delta_rank == 2 and d.energy_rank <= 2
    ref = np.linalg.norm((w + low).astype(np.float64) - w) / np.linalg.norm(w.astype(np.float64))
    assert d.rel_change == pytest.approx(ref, rel=1e-6)
    assert a.diff.only_here == ("new.weight",) and a.diff.only_there == ("gone.weight",)
    direct = tensor_diff("x", w, w + low, "dense", "pytorch", 256)
    assert direct.delta_rank == 2 and direct.heatmap.codes.shape == (96, 64)


def test_per_class_importance_of_a_weight_that_only_affects_class_k():
    """Input feature 0 is non-zero only in class-2 examples: its first-layer weights matter only there."""
    import jax.numpy as jnp

    rng = np.random.default_rng(5)
    n, k = 90, 3
    y = np.repeat(np.arange(k), n // k).astype(np.int32)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    x[:, 0] = np.where(y == 2, rng.normal(size=n) + 2, 0.0)
    params = {"Dense_0": {"kernel": rng.normal(size=(5, 8)).astype(np.float32), "bias": np.zeros(8, np.float32)},
              "Dense_1": {"kernel": rng.normal(size=(8, k)).astype(np.float32)}}

    def apply_fn(p, xb):
        h = jnp.tanh(xb @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
        return h @ p["Dense_1"]["kernel"]

    per_class = class_gradients(apply_fn, params, x, y, k, batch=16)
    assert [c for c, *_ in per_class] == [0, 1, 2] and [m for _, m, _, _ in per_class] == [30, 30, 30]
    for c, _, grads, squares in per_class:
        row = np.abs(params["Dense_0"]["kernel"][0] * grads["Dense_0"]["kernel"][0])  # Taylor of feature 0's weights
        fisher = squares["Dense_0"]["kernel"][0]
        if c == 2:
            assert row.min() > 0 and fisher.min() > 0
        else:
            assert np.all(row == 0) and np.all(fisher == 0)
    # Against the mean per-example gradient by finite differences for one weight of class 0.
    c0 = per_class[0][2]["Dense_1"]["kernel"][3, 1]
    eps = 1e-3

    def class_loss(delta):
        p = {**params, "Dense_1": {"kernel": params["Dense_1"]["kernel"].astype(np.float64).copy()}}
        p["Dense_1"]["kernel"][3, 1] += delta
        logits = np.asarray(apply_fn(p, x[y == 0]), np.float64)
        return np.mean(np.log(np.exp(logits).sum(1)) - logits[:, 0])

    assert c0 == pytest.approx((class_loss(eps) - class_loss(-eps)) / (2 * eps), rel=2e-3)


def test_demo_has_training_diff_and_importance(tmp_path):
    log = resource_dir("sample_models") / "digits_cnn" / "training_log.npz"
    assert log.stat().st_size < 1_000_000 and len(load_training_log(log).steps) >= 200
    side = tmp_path / "d.json"
    assert main(["demo", "digits", "-o", str(tmp_path / "d.html"), "--json", str(side), "-q"]) == 0
    data = json.loads(side.read_text())
    assert data["training"]["records"] == 220 and data["training"]["last_step"] == 876
    assert all(t["tensor"] for t in data["training"]["tensors"])  # every recorded tensor linked
    diff = {t["name"]: t for t in data["diff"]["tensors"]}
    assert len(diff) == 8 and all(0 < t["rel_change"] for t in diff.values())
    imp = data["importance"]
    assert len(imp["classes"]) == 10 and np.allclose(np.sum(imp["taylor_share"], axis=0), 1)
    page = (tmp_path / "d.html").read_text()
    for section in ('id="training"', 'id="diff"', 'id="importance"'):
        assert section in page
