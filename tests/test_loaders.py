"""Every loader round-trips arrays written by the real libraries, with names, roles and layout."""
from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest
from conftest import flatten, flax_style_tree, torch_style_arrays

import reportgen
from reportgen.errors import InputError


def _same(weights, expected: dict[str, np.ndarray]) -> None:
    assert sorted(t.name for t in weights) == sorted(expected)
    for t in weights:
        got = t.load()
        assert t.shape == expected[t.name].shape and t.dtype == expected[t.name].dtype.name
        np.testing.assert_array_equal(np.asarray(got), expected[t.name])


def test_safetensors_pytorch_names(tmp_path):
    from safetensors.numpy import save_file

    arrays = torch_style_arrays()
    save_file(arrays, str(tmp_path / "model.safetensors"))
    w = reportgen.load(tmp_path / "model.safetensors")
    _same(w, arrays)
    assert w.format == "safetensors" and w.layout == "pytorch"
    roles = {t.name: t.role for t in w}
    assert roles["embeddings.word_embeddings.weight"] == "embedding"
    assert roles["encoder.layer.0.attention.self.query.weight"] == "dense"
    assert roles["encoder.layer.0.attention.self.query.bias"] == "bias"
    assert roles["encoder.layer.0.output.LayerNorm.weight"] == "norm"
    assert roles["conv.weight"] == "conv"
    assert w.n_params == sum(a.size for a in arrays.values())
    assert len(w.sha256) == 64


def test_gpt2_conv1d_kernels_are_read_in_out(tmp_path):
    """HF GPT-2's Conv1D stores (in, out) under `.weight` names: units are its columns."""
    from safetensors.numpy import save_file

    from reportgen.analysis.units import unit_matrix
    from reportgen.report.sidecar import analysis_to_dict

    rng = np.random.default_rng(0)
    c_attn = rng.normal(size=(8, 24)).astype(np.float32)  # 8 inputs, 24 outputs (q, k, v)
    arrays = {"h.0.attn.c_attn.weight": c_attn, "h.0.mlp.c_fc.weight": rng.normal(size=(8, 32)).astype(np.float32),
              "lm_head.weight": rng.normal(size=(50, 8)).astype(np.float32), "h.0.ln_1.weight": np.ones(8, np.float32)}
    save_file(arrays, str(tmp_path / "model.safetensors"))
    w = reportgen.load(tmp_path / "model.safetensors")
    by = {t.name: t for t in w}
    assert w.layout == "pytorch" and by["lm_head.weight"].layout == "pytorch"
    assert by["h.0.attn.c_attn.weight"].layout == by["h.0.mlp.c_fc.weight"].layout == "flax"
    np.testing.assert_array_equal(unit_matrix(c_attn, "dense", by["h.0.attn.c_attn.weight"].layout), c_attn.T)
    side = analysis_to_dict(reportgen.analyze(w, config=reportgen.Config(progress=False, sections=("stats",))))
    notes = {t["name"]: t["notes"] for t in side["tensors"]}
    assert any("Conv1D" in n for n in notes["h.0.attn.c_attn.weight"]) and not notes["lm_head.weight"]
    assert reportgen.load(tmp_path / "model.safetensors", layout="pytorch").tensors[0].layout == "pytorch"


def test_safetensors_bfloat16_and_float16(tmp_path):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(1)
    arrays = {"a.weight": rng.normal(size=(4, 5)).astype(np.float16)}
    save_file(arrays, str(tmp_path / "m.safetensors"))
    _same(reportgen.load(tmp_path / "m.safetensors"), arrays)
    # safetensors' numpy API cannot write bfloat16; build the file by hand (header + bytes).
    bf = rng.normal(size=(3, 4)).astype(ml_dtypes.bfloat16)
    header = json.dumps({"b.weight": {"dtype": "BF16", "shape": [3, 4], "data_offsets": [0, bf.nbytes]}}).encode()
    (tmp_path / "bf.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bf.tobytes())
    t = reportgen.load(tmp_path / "bf.safetensors")["b.weight"]
    assert t.dtype == "bfloat16"
    np.testing.assert_array_equal(t.load().astype(np.float32), bf.astype(np.float32))


def test_safetensors_sharded(tmp_path):
    from safetensors.numpy import save_file

    arrays = torch_style_arrays()
    names = list(arrays)
    shards = {"model-00001-of-00002.safetensors": names[:3], "model-00002-of-00002.safetensors": names[3:]}
    weight_map = {}
    for shard, keys in shards.items():
        save_file({k: arrays[k] for k in keys}, str(tmp_path / shard))
        weight_map.update({k: shard for k in keys})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    for source in (tmp_path, tmp_path / "model.safetensors.index.json"):
        w = reportgen.load(source)
        assert w.format == "safetensors-sharded"
        _same(w, arrays)


def test_sharded_index_refuses_escape_and_missing(tmp_path):
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "../x.safetensors"}}))
    with pytest.raises(InputError, match="outside"):
        reportgen.load(tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "gone.safetensors"}}))
    with pytest.raises(InputError, match="missing"):
        reportgen.load(tmp_path)


def test_flax_msgpack_without_template(tmp_path):
    from flax import serialization

    tree = flax_style_tree()
    (tmp_path / "w.msgpack").write_bytes(serialization.to_bytes(tree))
    w = reportgen.load(tmp_path / "w.msgpack")
    assert w.format == "flax-msgpack" and w.layout == "flax"
    _same(w, flatten(tree))
    roles = {t.name: t.role for t in w}
    assert roles == {"params/Conv_0/kernel": "conv", "params/Conv_0/bias": "bias",
                     "params/Dense_0/kernel": "dense", "params/Dense_0/bias": "bias",
                     "params/LayerNorm_0/scale": "norm", "params/LayerNorm_0/bias": "norm"}


def test_format_detected_from_content_not_extension(tmp_path):
    from flax import serialization
    from safetensors.numpy import save_file

    save_file(torch_style_arrays(), str(tmp_path / "weights.bin"))
    (tmp_path / "weights.dat").write_bytes(serialization.to_bytes(flax_style_tree()))
    np.savez(tmp_path / "weights.data", **flatten(flax_style_tree()))  # numpy appends .npz
    assert reportgen.load(tmp_path / "weights.bin").format == "safetensors"
    assert reportgen.load(tmp_path / "weights.dat").format == "flax-msgpack"
    assert reportgen.load(tmp_path / "weights.data.npz").format == "npz"


def test_orbax_directory(tmp_path):
    import orbax.checkpoint as ocp

    tree = flax_style_tree()
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save((tmp_path / "ckpt").resolve(), tree)
    checkpointer.wait_until_finished()
    w = reportgen.load(tmp_path / "ckpt")
    assert w.format == "orbax" and w.layout == "flax"
    _same(w, flatten(tree))


def test_npz(tmp_path):
    arrays = flatten(flax_style_tree())
    np.savez(tmp_path / "w.npz", **arrays)
    w = reportgen.load(tmp_path / "w.npz")
    assert w.format == "npz" and w.layout == "flax"
    _same(w, arrays)
    torch_arrays = torch_style_arrays()
    np.savez(tmp_path / "t.npz", **torch_arrays)
    assert reportgen.load(tmp_path / "t.npz").layout == "pytorch"


def test_npz_refuses_pickled_objects(tmp_path):
    np.savez(tmp_path / "o.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InputError, match="pickle"):
        reportgen.load(tmp_path / "o.npz")


def test_live_linen_variables_and_nnx_state():
    import flax.linen as nn
    import jax
    from flax import nnx

    model = nn.Dense(3)
    variables = model.init(jax.random.PRNGKey(0), np.ones((1, 5), np.float32))
    w = reportgen.load(variables)
    assert w.format == "pytree" and w.layout == "flax"
    assert {t.name: t.shape for t in w} == {"params/kernel": (5, 3), "params/bias": (3,)}
    np.testing.assert_array_equal(w["params/kernel"].load(), np.asarray(variables["params"]["kernel"]))

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.hidden = nnx.Linear(4, 6, rngs=rngs)
            self.norm = nnx.LayerNorm(6, rngs=rngs)

    module = MLP(nnx.Rngs(0))
    for source in (module, nnx.state(module)):
        w = reportgen.load(source)
        shapes = {t.name: t.shape for t in w}
        assert shapes["hidden/kernel"] == (4, 6) and shapes["norm/scale"] == (6,)
        assert w["hidden/kernel"].role == "dense" and w["norm/scale"].role == "norm"
        np.testing.assert_array_equal(w["hidden/kernel"].load(), np.asarray(module.hidden.kernel[...]))


@pytest.mark.parametrize("content, match", [
    (b"", "unknown weights format"),
    (b"hello world, not weights", "unknown weights format"),
    ((10**9).to_bytes(8, "little") + b"{}", "unknown weights format"),
    ((30).to_bytes(8, "little") + b'{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', "corrupt"),
])
def test_bad_files_raise_input_error(tmp_path, content, match):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(InputError, match=match):
        reportgen.load(path)


def test_safetensors_range_mismatch(tmp_path):
    header = json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    (tmp_path / "r.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(16))
    with pytest.raises(InputError, match="byte range"):
        reportgen.load(tmp_path / "r.safetensors")


def test_missing_path():
    with pytest.raises(InputError, match="no such file"):
        reportgen.load("/nonexistent/model.safetensors")
