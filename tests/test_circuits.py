"""Circuits: expanded weights against matrix products and composed convolutions, the linear
stand-ins confined to the analysis, top-activating examples, NMF factors, activation maximisation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate

from reportgen.analysis import circuits as C
from reportgen.analysis.circuits_phase import circuits_phase
from reportgen.analysis.linearize import layer_outputs, model_output, trace
from reportgen.config import Config
from reportgen.progress import Progress
from reportgen.types import ModelSpec


def _int_weights(params, seed: int):
    """Small-integer weights: every sum and product below is exact in float32."""
    import jax

    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(lambda a: rng.integers(-3, 4, a.shape).astype(np.float32), params)


def _dense_stack():
    import flax.linen as nn

    class Stack(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(5, name="Dense_0")(x))
            x = nn.relu(nn.Dense(4, name="Dense_1")(x))
            return nn.Dense(3, name="Dense_2")(x)

    return Stack()


def _init(model, x):
    import jax

    return model.init(jax.random.key(0), x)["params"]


def test_linear_dense_stack_expanded_weights_equal_the_matrix_product_exactly():
    model = _dense_stack()
    x = np.random.default_rng(0).normal(size=(7, 6)).astype(np.float32)
    params = _int_weights(_init(model, x[:1]), 1)
    traced = trace(lambda p, v: model.apply({"params": p}, v), params, x[:1])
    assert [(l.name, l.kind, l.n_units) for l in traced.layers] == [("Dense_0", "dense", 5), ("Dense_1", "dense", 4),
                                                                    ("Dense_2", "dense", 3)]
    d0, d1, d2 = traced.layers
    w0, w1, w2 = (np.asarray(params[f"Dense_{i}"]["kernel"]) for i in range(3))
    skip, centre, _, _ = C.expanded_weights(traced, params, d0, d2, x[:1])
    assert centre is None and skip.shape == (3, 1, 1, 5)
    np.testing.assert_array_equal(skip[:, 0, 0, :], (w1 @ w2).T)  # Dense_0's units -> Dense_2's, across Dense_1
    np.testing.assert_array_equal(C.expanded_weights(traced, params, d0, d1, x[:1])[0][:, 0, 0], w1.T)
    np.testing.assert_array_equal(C.expanded_weights(traced, params, None, d2, x[:1])[0][:, 0, 0], (w0 @ w1 @ w2).T)
    # Real-valued weights: the product in float64 to float32 rounding.
    real = _init(model, x[:1])
    traced = trace(lambda p, v: model.apply({"params": p}, v), real, x[:1])
    w = [np.asarray(real[f"Dense_{i}"]["kernel"], np.float64) for i in range(3)]
    got = C.expanded_weights(traced, real, None, traced.layers[2], x[:1])[0][:, 0, 0]
    np.testing.assert_allclose(got, (w[0] @ w[1] @ w[2]).T, rtol=1e-5, atol=1e-7)


def _conv_stack(pool: str | None):
    import flax.linen as nn

    class Convs(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(2, (3, 3), padding="VALID", name="Conv_0")(x))
            if pool == "max":
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            elif pool == "avg":
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
            x = nn.relu(nn.Conv(3, (3, 3), padding="VALID", name="Conv_1")(x))
            return x.mean(axis=(1, 2))

    return Convs()


def _composed_kernel(k0: np.ndarray, k1: np.ndarray) -> np.ndarray:
    """Composition of two cross-correlations, HWIO: out[d] = Σ_{a+b=d} k0[a] · k1[b]."""
    h = k0.shape[0] + k1.shape[0] - 1
    out = np.zeros((h, h, k0.shape[2], k1.shape[3]))
    for ay in range(k0.shape[0]):
        for ax in range(k0.shape[1]):
            for by in range(k1.shape[0]):
                for bx in range(k1.shape[1]):
                    out[ay + by, ax + bx] += k0[ay, ax] @ k1[by, bx]
    return out


def test_linear_conv_stack_expanded_weights_equal_the_composed_convolution():
    model = _conv_stack(None)
    x = np.random.default_rng(0).normal(size=(3, 11, 11, 2)).astype(np.float32)
    params = _int_weights(_init(model, x[:1]), 2)
    traced = trace(lambda p, v: model.apply({"params": p}, v), params, x[:1])
    conv0, conv1 = traced.layers
    assert conv1.spatial == (7, 7)
    w, centre, offset, truncated = C.expanded_weights(traced, params, None, conv1, x[:1])
    k0, k1 = (np.asarray(params[f"Conv_{i}"]["kernel"], np.float64) for i in range(2))
    composed = _composed_kernel(k0, k1)  # [5, 5, 2, 3]
    assert centre == (3, 3) and offset == (3, 3) and not truncated  # output (3, 3) sees inputs 3..7
    np.testing.assert_array_equal(w, composed.transpose(3, 0, 1, 2).astype(np.float32))
    # Consecutive conv layers: the expanded weights are the kernel itself, [out, kh, kw, in].
    np.testing.assert_array_equal(C.expanded_weights(traced, params, conv0, conv1, x[:1])[0], k1.transpose(3, 0, 1, 2))
    # lucid's ranking: per output unit, inputs by the L2 norm of their spatial kernel.
    shown, ranked, norms = C.rank_connections(w, 2, 2)
    per_input = np.sqrt((composed ** 2).sum(axis=(0, 1))).T  # [out, in]
    assert list(shown) == sorted(np.argsort(-per_input.sum(1), kind="stable")[:2])
    np.testing.assert_array_equal(ranked, np.argsort(-per_input, axis=1, kind="stable")[:, :2])
    np.testing.assert_allclose(norms, np.sort(per_input, axis=1)[:, ::-1][:, :2], rtol=1e-6)


def _numpy_pipeline(x, k0, k1, pool):
    """conv0 -> (2x2 average pool) -> conv1, cross-correlations in numpy/scipy, no non-linearity."""
    y = np.stack([sum(correlate(x[..., i], k0[..., i, o], mode="valid") for i in range(k0.shape[2]))
                  for o in range(k0.shape[3])], -1)
    if pool:
        h, w = (y.shape[0] // 2) * 2, (y.shape[1] // 2) * 2
        y = y[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))
    return np.stack([sum(correlate(y[..., i], k1[..., i, o], mode="valid") for i in range(k1.shape[2]))
                     for o in range(k1.shape[3])], -1)


def test_max_pool_is_read_as_average_pool_against_impulse_responses():
    model = _conv_stack("max")
    x = np.zeros((1, 14, 14, 2), np.float32)
    params = _int_weights(_init(model, x), 3)
    traced = trace(lambda p, v: model.apply({"params": p}, v), params, x)
    w, centre, offset, _ = C.expanded_weights(traced, params, None, traced.layers[1], x)
    k0, k1 = (np.asarray(params[f"Conv_{i}"]["kernel"], np.float64) for i in range(2))
    # Independent reference: impulse responses of the linear pipeline at the same output position.
    ref = np.zeros((3, 14, 14, 2))
    for r in range(14):
        for c in range(14):
            for ch in range(2):
                e = np.zeros((14, 14, 2))
                e[r, c, ch] = 1.0
                ref[:, r, c, ch] = _numpy_pipeline(e, k0, k1, pool=True)[centre]
    h, wd = w.shape[1:3]
    np.testing.assert_allclose(w, ref[:, offset[0]:offset[0] + h, offset[1]:offset[1] + wd], rtol=1e-6, atol=1e-6)
    assert np.abs(ref).sum() == pytest.approx(np.abs(w).sum(), rel=1e-6)  # nothing outside the kept window


def test_linear_stand_ins_never_touch_the_models_own_forward_pass():
    import jax
    import jax.numpy as jnp

    model = _conv_stack("max")
    x = np.random.default_rng(4).normal(size=(5, 14, 14, 2)).astype(np.float32)
    params = _init(model, x[:1])
    apply_fn = jax.jit(lambda p, v: model.apply({"params": p}, v))
    before = np.asarray(apply_fn(params, x))
    spec = ModelSpec(apply_fn=lambda p, v: model.apply({"params": p}, v), params=params, inputs=x,
                     input_kind="image")
    found = circuits_phase(spec, Config(circuits_actmax_steps=8), Progress(enabled=False), ())
    assert found.expanded
    # The model, jitted before and called afresh, and JAX's own ReLU are as they were.
    np.testing.assert_array_equal(np.asarray(apply_fn(params, x)), before)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda p, v: model.apply({"params": p}, v))(params, x)), before)
    assert float(jax.nn.relu(jnp.float32(-2.0))) == 0.0
    # The interpreter without the stand-ins is the model; with them it is not (ReLUs are cut off).
    traced = trace(spec.apply_fn, params, x[:1])
    np.testing.assert_allclose(np.asarray(model_output(traced, params, x[:1])), before[:1], rtol=1e-6, atol=1e-6)
    assert np.abs(np.asarray(model_output(traced, params, x[:1], linear=True)) - before[:1]).max() > 1e-3
    # ...and the expanded weights are not the real model's Jacobian at that input.
    conv1 = traced.layers[1]
    real = jax.jacrev(lambda v: layer_outputs(traced, params, v, (conv1.param,))[conv1.param][0][conv1.spatial[0] // 2,
                                                                                        conv1.spatial[1] // 2])(x[:1])
    w, _, offset, _ = C.expanded_weights(traced, params, None, conv1, x[:1])
    cropped = np.asarray(real)[:, 0, offset[0]:offset[0] + w.shape[1], offset[1]:offset[1] + w.shape[2]]
    assert np.abs(cropped - w).max() > 1e-3


def test_second_circuits_pass_compiles_nothing():
    from reportgen.analysis import compile_watch

    model = _conv_stack("max")
    x = np.random.default_rng(7).normal(size=(12, 14, 14, 2)).astype(np.float32)
    spec = ModelSpec(apply_fn=lambda p, v: model.apply({"params": p}, v), params=_init(model, x[:1]), inputs=x,
                     input_kind="image")
    config = Config(circuits_actmax_steps=8, saliency_batch=8)
    first = circuits_phase(spec, config, Progress(enabled=False), ())
    before = compile_watch.snapshot()[0]
    second = circuits_phase(spec, config, Progress(enabled=False), ())
    assert compile_watch.snapshot()[0] == before
    for a, b in zip(first.expanded, second.expanded):
        np.testing.assert_array_equal(a.weights, b.weights)


def test_top_activating_examples_match_the_models_captured_intermediates():
    import jax
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sample_models" / "digits_cnn"))
    import model as digits

    spec = digits.spec()
    x = np.asarray(spec.inputs)[:200]
    traced = trace(spec.apply_fn, spec.params, x[:1])
    acts = C.unit_activations(traced, spec.params, traced.layers, x, 64)
    inter = spec.intermediates_fn(spec.params, x)
    for layer in traced.layers:
        out = np.asarray(jax.device_get(inter[layer.name]["__call__"][0]))  # with bias: the ranking is the same
        ref = out.reshape(len(x), -1, out.shape[-1]).max(axis=1)
        bias = np.asarray(spec.params[layer.name]["bias"])
        np.testing.assert_allclose(acts[layer.name] + bias, ref, rtol=1e-5, atol=1e-5)
        order, values = C.top_examples(acts[layer.name], 4)
        np.testing.assert_array_equal(order, np.argsort(-ref, axis=0, kind="stable")[:4].T)


def test_one_sided_nmf_recovers_planted_factors():
    rng = np.random.default_rng(5)
    n_s, k = 12, 3
    factors = np.zeros((k, n_s))
    for f, cols in enumerate(np.array_split(rng.permutation(n_s), k)):  # disjoint supports over the sources
        factors[f, cols] = rng.uniform(0.2, 1.0, len(cols))
    signed = rng.normal(size=(20 * 2 * 2, k))  # a signed loading per (target, position, factor)
    w = (np.maximum(signed, 0) @ factors - np.maximum(-signed, 0) @ factors).reshape(20, 2, 2, n_s)
    v, exc, inh, explained = C.one_sided_nmf(w.astype(np.float32), k)
    assert explained > 0.999
    cos = (v / np.linalg.norm(v, axis=1, keepdims=True)) @ (factors / np.linalg.norm(factors, axis=1, keepdims=True)).T
    assert np.sort(cos.max(axis=1)).min() > 0.99 and sorted(cos.argmax(axis=1)) == [0, 1, 2]
    assert v.max(axis=1) == pytest.approx(np.ones(k)) and exc.min() >= 0 and inh.min() >= 0
    recon = (exc.reshape(-1, k) @ v) - (inh.reshape(-1, k) @ v)
    np.testing.assert_allclose(recon, w.reshape(-1, n_s), atol=2e-2 * np.abs(w).max())


def test_activation_maximisation_is_deterministic_and_beats_typical_examples():
    model = _conv_stack(None)
    x = np.random.default_rng(6).uniform(0, 1, size=(64, 11, 11, 2)).astype(np.float32)
    params = _init(model, x[:1])
    traced = trace(lambda p, v: model.apply({"params": p}, v), params, x[:1])
    layer = traced.layers[1]
    acts = C.unit_activations(traced, params, (layer,), x, 32)[layer.name]
    units = np.arange(layer.n_units, dtype=np.int32)
    a = C.activation_max(traced, params, layer, units, 0.0, 1.0, acts.std(axis=0) + 1e-6, 64)
    b = C.activation_max(traced, params, layer, units, 0.0, 1.0, acts.std(axis=0) + 1e-6, 64)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].min() >= 0 and a[0].max() <= 1
    assert (a[1] > np.median(acts, axis=0)).all()


def test_pairs_and_default_layers():
    from reportgen.analysis.linearize import Layer

    ls = tuple(Layer(i, f"{n}/kernel", k, (1, 4) if k == "dense" else (1, 4, 4, 4))
               for i, (n, k) in enumerate([("c0", "conv"), ("c1", "conv"), ("d0", "dense"), ("d1", "dense")]))
    got = [((s.name if s else "input"), t.name, tuple(l.name for l in sk)) for s, t, sk in C.pairs(ls, 1, True)]
    assert got == [("input", "c0", ()), ("c0", "c1", ()), ("c1", "d0", ()), ("d0", "d1", ()),
                   ("input", "c1", ("c0",)), ("c0", "d0", ("c1",)), ("c1", "d1", ("d0",))]
    assert [l.name for l in C.default_chosen(ls, {"c0", "c1", "d0", "d1"})] == ["c1", "d0"]
    assert [l.name for l in C.default_chosen(ls, {"c0", "d1"})] == ["c0"]  # d1 is the output layer


def test_digits_demo_shows_expanded_weights_top_connections_and_factors(tmp_path):
    import json
    import sys
    from pathlib import Path

    from markupsafe import escape

    from reportgen.cli import main
    from reportgen.report.circuits import EXPANDED_TEXT, NMF_TEXT, TOP_TEXT

    out, side = tmp_path / "d.html", tmp_path / "d.json"
    assert main(["demo", "digits", "-o", str(out), "--json", str(side), "-q", "--sections", "overview,circuits"]) == 0
    c = json.loads(side.read_text())["circuits"]
    assert c["chosen"] == ["Conv_1", "Dense_0"]  # the last conv layer and the first hidden dense layer
    shapes = {(e["source"], e["target"]): e["shape"] for e in c["expanded"]}
    assert shapes == {("input", "Conv_0"): [16, 3, 3, 1], ("Conv_0", "Conv_1"): [32, 3, 3, 16],
                      ("Conv_1", "Dense_0"): [64, 8, 8, 32], ("Dense_0", "Dense_1"): [10, 1, 1, 64],
                      ("input", "Conv_1"): [32, 5, 5, 1], ("Conv_0", "Dense_0"): [64, 8, 8, 16],
                      ("Conv_1", "Dense_1"): [10, 8, 8, 32]}
    # Top connections into Conv_1 rank Conv_0's units by the L2 norm of the committed kernel.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sample_models" / "digits_cnn"))
    import model as digits

    kernel = np.asarray(digits.load_params()["Conv_1"]["kernel"], np.float64)  # [3, 3, 16, 32]
    l2 = np.sqrt((kernel ** 2).sum(axis=(0, 1))).T  # [out, in]
    conv = next(e for e in c["expanded"] if (e["source"], e["target"]) == ("Conv_0", "Conv_1"))
    assert len(conv["top_connections"]) == 32 and len(conv["shown"]) == 16
    for row in conv["top_connections"]:
        assert [s["unit"] for s in row["sources"]] == list(np.argsort(-l2[row["unit"]], kind="stable")[:6])
        np.testing.assert_allclose([s["l2"] for s in row["sources"]], np.sort(l2[row["unit"]])[::-1][:6], rtol=1e-5)
    assert [f["target"] for f in c["factors"]] == ["Conv_1", "Dense_0"]
    assert all(0.2 < f["explained"] <= 1 and np.shape(f["factors"])[0] == 3 for f in c["factors"])
    assert [a["layer"] for a in c["activation_max"]] == ["Conv_1", "Dense_0"]
    assert all(len(v) == 4 for v in c["top_examples"]["Conv_1"])
    html = out.read_text()
    for text in (TOP_TEXT.format(n="360"), EXPANDED_TEXT, NMF_TEXT.format(k=3)):
        assert str(escape(text)) in html
    for fid in ("circ-top-0", "circ-top-1", "circ-nmf-0", "circ-nmf-1"):
        assert f'id="{fid}"' in html
    assert html.count('id="circ-exp-') == 5  # the 7 pairs less the 2 shown as top connections


def test_attention_model_heads_are_units_and_parallel_branches_are_noted():
    import flax.linen as nn
    import jax

    from reportgen.report.circuits import circuits_section
    from reportgen.report.figures import packed_item

    class Seq(nn.Module):
        @nn.compact
        def __call__(self, tok):
            h = nn.Embed(50, 16)(tok)
            h = h + nn.MultiHeadDotProductAttention(num_heads=2, name="attn")(h)
            h = nn.relu(nn.Dense(32, name="Dense_0")(h))
            return nn.Dense(4, name="Dense_1")(h.mean(1))

    model = Seq()
    tokens = np.random.default_rng(8).integers(0, 50, (30, 7)).astype(np.int32)
    params = model.init(jax.random.key(0), tokens[:1])["params"]
    spec = ModelSpec(apply_fn=lambda p, v: model.apply({"params": p}, v), params=params, inputs=tokens,
                     input_kind="sequence")
    c = circuits_phase(spec, Config(), Progress(enabled=False), ())
    by_name = {l.name: l for l in c.layers}
    assert by_name["attn/query"].n_units == 16 and by_name["attn/query"].spatial == (7,)
    assert "attn/query → attn/key" in " ".join(c.notes)  # parallel branches: no path
    pair = next(e for e in c.expanded if (e.source, e.target) == ("attn/out", "Dense_0"))
    # Position-wise Dense after a residual add: at the centre position the map is its kernel.
    assert pair.weights.shape == (32, 1, 1, 16)
    np.testing.assert_allclose(pair.weights[:, 0, 0], np.asarray(params["Dense_0"]["kernel"]).T, rtol=1e-6)
    assert c.chosen == ("attn/out",) and not c.actmax  # the first hidden dense layer fed by the one below
    section = circuits_section(c, "", lambda name: None)
    for part in section.parts:
        for figure in part.figures:
            assert packed_item(figure)


def test_channels_first_inputs_give_kernels_in_channels_last_order():
    import flax.linen as nn
    import jax.numpy as jnp

    class Nchw(nn.Module):  # a PyTorch-style model: NCHW inputs moved to NHWC inside
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(4, (3, 3), name="Conv_0")(jnp.moveaxis(x, 1, -1)))
            return nn.Dense(2, name="Dense_0")(x.reshape(x.shape[0], -1))

    model = Nchw()
    x = np.random.default_rng(9).uniform(size=(5, 3, 6, 6)).astype(np.float32)
    params = _int_weights(_init(model, x[:1]), 10)
    traced = trace(lambda p, v: model.apply({"params": p}, v), params, x[:1])
    w, centre, offset, _ = C.expanded_weights(traced, params, None, traced.layers[0], x[:1])
    assert centre == (3, 3) and offset == (2, 2)
    np.testing.assert_array_equal(w, np.asarray(params["Conv_0"]["kernel"]).transpose(3, 0, 1, 2))


def test_activation_maximisation_budget_and_drawn_pairs_cap():
    model = _conv_stack("max")
    x = np.random.default_rng(11).uniform(size=(20, 14, 14, 2)).astype(np.float32)
    spec = ModelSpec(apply_fn=lambda p, v: model.apply({"params": p}, v), params=_init(model, x[:1]), inputs=x,
                     input_kind="image")
    quiet = Progress(enabled=False)
    traced = trace(spec.apply_fn, spec.params, x[:1])
    conv1 = traced.layers[1]  # the only chosen layer (no hidden dense layer)
    flops = C.forward_flops(traced, spec.params, conv1, x[:1])
    assert flops >= 2 * (12 * 12 * 2 * 9 * 2 + 4 * 4 * 3 * 9 * 2)  # both convs' multiply-adds, twice
    per_step = 3 * conv1.n_units * flops
    found = circuits_phase(spec, Config(circuits_actmax_gflop=40.5 * per_step / 1e9), quiet, ())
    assert found.actmax and "Activation maximisation of Conv_1: 40 of 128 steps, within circuits_actmax_gflop." \
        in found.notes
    found = circuits_phase(spec, Config(circuits_actmax_gflop=10 * per_step / 1e9), quiet, ())
    assert not found.actmax and any(n.startswith("Activation maximisation of Conv_1 left out") for n in found.notes)
    # Views drawn: the pair that skips a layer first; the chosen layer's own pair is its top connections.
    found = circuits_phase(spec, Config(circuits_max_pairs=1, circuits_actmax_steps=0), quiet, ())
    pairs = [(found.expanded[i].source, found.expanded[i].target) for i in found.drawn]
    assert pairs == [("input", "Conv_1")]
    assert any(n.startswith("Expanded weights drawn for 1 of 2 pairs") for n in found.notes)
