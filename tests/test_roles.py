"""Role and layout inference from names and shapes, across naming conventions."""
from __future__ import annotations

import pytest

from reportgen.io.roles import infer_layout, infer_role


@pytest.mark.parametrize("name, shape, dtype, role", [
    ("encoder.layer.0.attention.self.query.weight", (384, 384), "float32", "dense"),
    ("encoder.layer.0.attention.self.query.bias", (384,), "float32", "bias"),
    ("embeddings.word_embeddings.weight", (30522, 384), "float32", "embedding"),
    ("transformer.wte.weight", (50257, 768), "bfloat16", "embedding"),
    ("encoder.layer.0.output.LayerNorm.weight", (384,), "float32", "norm"),
    ("bn1.running_mean", (64,), "float32", "norm"),
    ("bn1.num_batches_tracked", (), "int64", "other"),
    ("conv1.weight", (64, 3, 7, 7), "float32", "conv"),
    ("params/Conv_0/kernel", (3, 3, 1, 16), "float32", "conv"),
    ("params/Dense_0/kernel", (512, 64), "float32", "dense"),
    ("params/Embed_0/embedding", (1000, 32), "float32", "embedding"),
    ("params/LayerNorm_0/scale", (32,), "float32", "norm"),
    ("batch_stats/BatchNorm_0/mean", (16,), "float32", "norm"),
    ("params/attn/query/kernel", (64, 4, 16), "float32", "dense"),  # DenseGeneral
    ("params/conv1d/kernel", (5, 8, 16), "float32", "conv"),
    ("mask", (4, 4), "bool", "other"),
    ("empty.weight", (0, 4), "float32", "other"),
])
def test_infer_role(name, shape, dtype, role):
    assert infer_role(name, shape, dtype) == role


def test_infer_layout_votes_and_default():
    assert infer_layout(["a.weight", "a.bias", "b.weight"], "flax") == "pytorch"
    assert infer_layout(["params/a/kernel", "params/a/bias"], "pytorch") == "flax"
    assert infer_layout(["x", "y"], "flax") == "flax" and infer_layout(["x"], "pytorch") == "pytorch"
