"""Saliency: gradients vs finite differences, IG completeness, exact zeros, linen and nnx, the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from reportgen.analysis import compile_watch
from reportgen.analysis import saliency as k
from reportgen.analysis.saliency_phase import blur, saliency_phase
from reportgen.config import Config, load_config
from reportgen.errors import InputError
from reportgen.modelspec import check_spec, spec_from_linen, spec_from_nnx
from reportgen.progress import Progress
from reportgen.types import ModelSpec

QUIET = Progress(enabled=False)


def _mlp_params(rng, sizes=(5, 7, 3)):
    return [(rng.normal(0, 0.7, (a, b)), rng.normal(0, 0.3, b)) for a, b in zip(sizes[:-1], sizes[1:])]


def _numpy_logits(params, x):
    """The reference forward pass in float64: tanh MLP, linear last layer."""
    for i, (w, b) in enumerate(params):
        x = x @ w + b
        if i < len(params) - 1:
            x = np.tanh(x)
    return x


def _tanh_spec(params, x, **fields) -> ModelSpec:
    import jax.numpy as jnp

    def apply_fn(p, xb):
        for i, (w, b) in enumerate(p):
            xb = xb @ w + b
            if i < len(p) - 1:
                xb = jnp.tanh(xb)
        return xb

    as32 = [(w.astype(np.float32), b.astype(np.float32)) for w, b in params]
    return ModelSpec(apply_fn=apply_fn, params=as32, inputs=x.astype(np.float32), **fields)


def test_gradient_matches_central_finite_differences():
    rng = np.random.default_rng(0)
    params = _mlp_params(rng)
    x = rng.normal(size=(6, 5))
    targets = np.array([0, 1, 2, 0, 1, 2], np.int32)
    spec = _tanh_spec(params, x)
    got = np.asarray(k.gradient(spec.apply_fn, spec.params, spec.inputs, targets))
    h = 1e-5
    fd = np.zeros_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        up, down = _numpy_logits(params, x + e), _numpy_logits(params, x - e)
        fd[:, j] = (up - down)[np.arange(len(x)), targets] / (2 * h)
    np.testing.assert_allclose(got, fd, rtol=1e-4, atol=1e-5)
    gxi = np.asarray(k.gradient_x_input(spec.apply_fn, spec.params, spec.inputs, targets))
    np.testing.assert_allclose(gxi, spec.inputs * got, rtol=1e-6)


def test_linear_model_integrated_gradients_and_smoothgrad_are_exact():
    """For f(x) = x·W, IG = (x − b)·W[:, t] at any step count and SmoothGrad = W[:, t] at any noise."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    base = rng.normal(size=(5, 4)).astype(np.float32)
    t = np.array([0, 1, 2, 1, 0], np.int32)
    f = lambda p, xb: xb @ p  # noqa: E731
    ig = np.asarray(k.integrated_gradients(f, w, x, base, t, steps=3))
    np.testing.assert_allclose(ig, (x - base) * w[:, t].T, rtol=1e-5, atol=1e-6)
    import jax

    keys = np.asarray(jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(0), i))(np.arange(5, dtype=np.uint32)))
    sg = np.asarray(k.smoothgrad(f, w, x, t, keys, np.float32(0.5), samples=4))
    np.testing.assert_allclose(sg, w[:, t].T, rtol=1e-5)


def test_smoothgrad_with_zero_noise_is_the_gradient_and_batching_does_not_matter():
    rng = np.random.default_rng(2)
    spec = _tanh_spec(_mlp_params(rng), rng.normal(size=(10, 5)))
    base = dict(saliency_methods=("gradient", "smoothgrad"), smoothgrad_samples=4)
    zero = saliency_phase(spec, Config(**base, smoothgrad_noise=0.0), QUIET)
    np.testing.assert_allclose(zero.methods[1].maps, zero.methods[0].maps, rtol=1e-6)
    noisy = [saliency_phase(spec, Config(**base, saliency_batch=b), QUIET).methods[1].maps for b in (3, 64)]
    np.testing.assert_allclose(noisy[0], noisy[1], rtol=1e-5, atol=1e-7)  # per-example keys: batch-independent noise
    assert not np.allclose(noisy[0], zero.methods[1].maps)


@pytest.mark.parametrize("target", ["digits", "credit"])
def test_integrated_gradients_completeness_on_the_sample_models(target):
    from reportgen.samples import model_spec

    s = saliency_phase(model_spec(target), Config(), QUIET)
    c = s.completeness
    assert c.reached and float(c.rel_errors.max()) < 0.01
    assert c.ladder[-1] == (c.steps, pytest.approx(float(c.rel_errors.max()), rel=1e-6))
    assert c.ladder[0][0] == Config().ig_steps and c.steps <= Config().ig_max_steps
    # Σ attributions really is f(x) − f(baseline): recomputed here, not taken from the phase.
    ig = s.methods[-1]
    assert ig.method == "integrated_gradients"
    rows = np.arange(len(s.examples)) if s.input_kind == "tabular" else s.shown  # image maps: shown only
    sums = ig.maps.reshape(len(rows), -1).sum(1)
    scale = np.maximum(np.abs(c.delta_f[rows]), np.abs(c.delta_f).mean())
    assert np.all(np.abs(sums - c.delta_f[rows]) <= 0.01 * scale)
    assert s.predictions.shape == s.targets.shape == (len(s.examples),)


def test_a_feature_the_model_ignores_gets_exactly_zero_from_every_method():
    rng = np.random.default_rng(3)
    params = _mlp_params(rng)
    params[0][0][2, :] = 0.0  # feature 2 never reaches the hidden layer
    spec = _tanh_spec(params, rng.normal(size=(12, 5)), input_kind="tabular")
    s = saliency_phase(spec, Config(ig_baseline="mean", smoothgrad_samples=8), QUIET)
    assert len(s.methods) == 4
    for m in s.methods:
        assert np.all(m.maps[:, 2] == 0.0), m.method
        assert m.mean_abs[2] == 0.0 and np.all(m.mean_abs[[0, 1, 3, 4]] > 0), m.method


def _linen_and_nnx(rng):
    import flax.linen as nn
    from flax import nnx

    class Linen(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(3)(nn.relu(nn.Dense(6)(x)))

    class Nnx(nnx.Module):
        def __init__(self, rngs):
            self.a, self.b = nnx.Linear(4, 6, rngs=rngs), nnx.Linear(6, 3, rngs=rngs)

        def __call__(self, x):
            return self.b(nnx.relu(self.a(x)))

    x = rng.normal(size=(9, 4)).astype(np.float32)
    linen = Linen()
    variables = linen.init(__import__("jax").random.PRNGKey(0), x)
    nnx_model = Nnx(nnx.Rngs(0))
    # The same weights in both (linen names the outer Dense first: Dense_0 is the output layer).
    for layer, name in ((nnx_model.a, "Dense_1"), (nnx_model.b, "Dense_0")):
        layer.kernel[...] = variables["params"][name]["kernel"]
        layer.bias[...] = variables["params"][name]["bias"]
    return (spec_from_linen(linen, variables, x, labels=np.arange(9) % 3),
            spec_from_nnx(nnx_model, x, labels=np.arange(9) % 3))


def test_linen_and_nnx_models_give_the_same_attributions():
    linen, nnx_spec = (check_spec(s) for s in _linen_and_nnx(np.random.default_rng(4)))
    config = Config(saliency_target="label", smoothgrad_samples=4, ig_steps=16)
    a, b = saliency_phase(linen, config, QUIET), saliency_phase(nnx_spec, config, QUIET)
    assert a.target_mode == b.target_mode == "label"
    np.testing.assert_array_equal(a.targets, np.arange(9) % 3)
    for ma, mb in zip(a.methods, b.methods):
        np.testing.assert_allclose(ma.maps, mb.maps, rtol=1e-5, atol=1e-6)
    assert linen.intermediates_fn(linen.params, linen.inputs[:2])


def test_second_pass_compiles_nothing():
    rng = np.random.default_rng(5)
    spec = _tanh_spec(_mlp_params(rng), rng.normal(size=(20, 5)))
    config = Config(saliency_batch=8, smoothgrad_samples=4, ig_steps=8)
    saliency_phase(spec, config, QUIET)
    before = compile_watch.snapshot()[0]
    saliency_phase(spec, config, QUIET)
    assert compile_watch.snapshot()[0] == before


def test_targets_baselines_and_notes():
    rng = np.random.default_rng(6)
    x = rng.random((8, 6, 6, 1)).astype(np.float32)
    spec = ModelSpec(apply_fn=lambda p, xb: xb.reshape(len(xb), -1) @ p, params=rng.normal(size=(36, 3)).astype(np.float32),
                     inputs=x, input_kind="image")
    fixed = saliency_phase(spec, Config(saliency_target=2, saliency_methods=("gradient",)), QUIET)
    assert fixed.target_mode == "class 2" and set(fixed.targets) == {2}
    assert fixed.methods[0].class_means.shape == (3, 6, 6)
    assert np.isnan(fixed.methods[0].class_means[0]).all()  # no example targeted class 0
    too_big = saliency_phase(spec, Config(saliency_target=7, saliency_methods=("gradient",)), QUIET)
    assert too_big.target_mode == "predicted" and "has 3 outputs" in " ".join(too_big.notes)
    no_labels = saliency_phase(spec, Config(saliency_target="label", saliency_methods=("gradient",)), QUIET)
    assert no_labels.target_mode == "predicted" and "no labels" in " ".join(no_labels.notes)
    blurred = saliency_phase(spec, Config(ig_baseline="blurred", saliency_methods=("integrated_gradients",)), QUIET)
    assert blurred.baseline == "blurred" and blurred.completeness.reached
    tokens = ModelSpec(apply_fn=spec.apply_fn, params=spec.params, inputs=np.zeros((4, 36), np.int32))
    assert "token ids" in saliency_phase(tokens, Config(), QUIET)


def test_blur_keeps_constants_and_smooths_edges():
    flat = np.full((2, 9, 9, 1), 0.3, np.float32)
    np.testing.assert_allclose(blur(flat, 2.0), flat, rtol=1e-6)
    step = np.zeros((1, 9, 9), np.float32)
    step[:, :, 5:] = 1
    out = blur(step, 1.0)
    assert out.shape == step.shape and 0 < out[0, 4, 4] < 0.5 < out[0, 4, 5] < 1
    nchw = np.moveaxis(np.repeat(step[..., None], 3, -1), -1, 1)  # [1, 3, 9, 9]
    np.testing.assert_allclose(blur(nchw, 1.0)[:, 0], out, rtol=1e-6)


def test_sequence_inputs_get_per_position_maps():
    rng = np.random.default_rng(7)
    w = rng.normal(size=(5, 3)).astype(np.float32)
    spec = ModelSpec(apply_fn=lambda p, xb: (xb @ p).sum(1), params=w, inputs=rng.normal(size=(6, 7, 5)).astype(np.float32),
                     input_kind="sequence")
    s = saliency_phase(spec, Config(saliency_methods=("gradient_x_input",), saliency_examples=4), QUIET)
    m = s.methods[0]
    assert m.maps.shape == (4, 7) and m.mean_abs.shape == (7,)
    x = spec.inputs[s.examples[s.shown]]
    np.testing.assert_allclose(m.maps, (x * w[:, s.targets[s.shown]].T[:, None, :]).sum(-1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad, message", [
    (dict(saliency_methods=["gradient", "lime"]), "unknown method 'lime'"),
    (dict(saliency_target="biggest"), "saliency_target"),
    (dict(ig_baseline="noise"), "ig_baseline"),
    (dict(ig_steps=0), "positive integer"),
])
def test_bad_saliency_config_is_refused(bad, message):
    with pytest.raises(InputError, match=message):
        load_config(None, **bad)


def test_check_spec_refuses_broken_specs():
    good = ModelSpec(apply_fn=lambda p, x: x @ p, params=np.ones((3, 2), np.float32), inputs=np.ones((4, 3), np.float32))
    check_spec(good)
    import dataclasses

    for change, message in ((dict(inputs=np.ones((4, 5), np.float32)), "fails"),
                            (dict(inputs=np.ones(4, np.float32)), "non-empty numeric array"),
                            (dict(labels=np.zeros(3)), "labels has shape"),
                            (dict(input_kind="video"), "input_kind"),
                            (dict(apply_fn=lambda p, x: (x @ p)[None]), "logits"),
                            (dict(inputs=np.full((4, 3), np.nan, np.float32)), "NaN")):
        with pytest.raises(InputError, match=message):
            check_spec(dataclasses.replace(good, **change))
    with pytest.raises(InputError, match="expected a reportgen.ModelSpec"):
        check_spec({"apply_fn": None})


MODEL_FILE = '''
import numpy as np
from reportgen import ModelSpec

W = np.arange(12, dtype=np.float32).reshape(4, 3) / 10

def spec():
    return ModelSpec(apply_fn=lambda p, x: x @ p, params=W, inputs=np.ones((6, 4), np.float32),
                     labels=np.zeros(6, np.int32), input_kind="tabular", feature_names=("a", "b", "c", "d"))

def broken():
    raise RuntimeError("no weights here")

def not_a_spec():
    return 42
'''


def test_cli_model_and_inputs(tmp_path):
    from reportgen.cli import main

    (tmp_path / "user_model.py").write_text(MODEL_FILE)
    np.savez(tmp_path / "w.npz", **{"Dense_0/kernel": np.arange(12, dtype=np.float32).reshape(4, 3) / 10})
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.savez(tmp_path / "x.npz", inputs=x, labels=np.array([0, 1, 2, 0, 1]))
    out, side = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["report", str(tmp_path / "w.npz"), "--model", f"{tmp_path / 'user_model.py'}:spec",
                 "--inputs", str(tmp_path / "x.npz"), "-o", str(out), "--json", str(side), "-q"]) == 0
    data = json.loads(side.read_text())["saliency"]
    assert data["n_inputs"] == data["n_examples"] == 5 and data["input_kind"] == "tabular"
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    t = (x @ w).argmax(1)
    expected = np.abs(x * w[:, t].T).mean(0)  # gradient × input of a linear model
    got = data["summary"]["gradient_x_input"]["mean_abs_per_feature"]
    np.testing.assert_allclose([got[f] for f in "abcd"], expected, rtol=1e-5)
    assert len(data["completeness"]["per_example"]) == 5 and data["completeness"]["reached"]
    assert data["accuracy"] == pytest.approx(float(np.mean(t == [0, 1, 2, 0, 1])))
    assert 'id="saliency-features"' in out.read_text()


@pytest.mark.parametrize("model, extra, message", [
    ("nowhere_module_xyz:spec", [], "cannot import nowhere_module_xyz"),
    ("{dir}/user_model.py:missing", [], "has no callable 'missing'"),
    ("{dir}/user_model.py:broken", [], "broken() failed (RuntimeError: no weights here)"),
    ("{dir}/user_model.py:not_a_spec", [], "expected a reportgen.ModelSpec, got int"),
    ("{dir}/user_model.py", [], "expected MODULE:FACTORY"),
    ("{dir}/user_model.py:spec", ["--inputs", "{dir}/w.npz"], "needs an array named 'inputs'"),
    ("{dir}/user_model.py:spec", ["--inputs", "{dir}/user_model.py"], "not a readable .npz"),
    (None, ["--inputs", "{dir}/w.npz"], "--inputs needs --model"),
])
def test_cli_bad_model_exits_2_without_output(tmp_path, capsys, model, extra, message):
    from reportgen.cli import main

    (tmp_path / "user_model.py").write_text(MODEL_FILE)
    np.savez(tmp_path / "w.npz", kernel=np.ones((4, 3), np.float32))
    out = tmp_path / "r.html"
    args = ["report", str(tmp_path / "w.npz"), "-o", str(out), "-q"]
    args += ["--model", model.format(dir=tmp_path)] if model else []
    args += [a.format(dir=tmp_path) for a in extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_integrated_gradients_doubles_its_steps_until_complete():
    from reportgen.samples import model_spec

    config = Config(saliency_methods=("integrated_gradients",), ig_steps=4, saliency_max_examples=32)
    c = saliency_phase(model_spec("credit"), config, QUIET).completeness
    steps = [s for s, _ in c.ladder]
    assert steps[0] == 4 and steps == [4 * 2 ** i for i in range(len(steps))] and len(steps) > 1
    assert all(e > config.ig_tolerance for _, e in c.ladder[:-1])  # it stopped at the first good rung
    assert c.reached == (c.ladder[-1][1] <= config.ig_tolerance) and c.steps == steps[-1]
    capped = saliency_phase(model_spec("credit"), Config(saliency_methods=("integrated_gradients",), ig_steps=2,
                                                          ig_max_steps=4, saliency_max_examples=32), QUIET)
    assert [s for s, _ in capped.completeness.ladder] == [2, 4] and not capped.completeness.reached
    assert "did not reach the completeness tolerance" in " ".join(capped.notes)
