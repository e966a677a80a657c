"""Shared fixtures: small models written in every supported format from known numpy arrays."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/browser.py helper

from reportgen.config import Config  # noqa: E402


def torch_style_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """A BERT-ish slice with PyTorch names and (out, in) kernels."""
    rng = np.random.default_rng(seed)
    return {
        "embeddings.word_embeddings.weight": rng.normal(0, 0.02, (100, 16)).astype(np.float32),
        "encoder.layer.0.attention.self.query.weight": rng.normal(0, 0.1, (16, 16)).astype(np.float32),
        "encoder.layer.0.attention.self.query.bias": np.zeros(16, np.float32),
        "encoder.layer.0.intermediate.dense.weight": rng.normal(0, 0.1, (64, 16)).astype(np.float32),
        "encoder.layer.0.output.LayerNorm.weight": np.ones(16, np.float32),
        "encoder.layer.0.output.LayerNorm.bias": np.zeros(16, np.float32),
        "conv.weight": rng.normal(0, 0.1, (8, 3, 3, 3)).astype(np.float32),
    }


def flax_style_tree(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"params": {
        "Conv_0": {"kernel": rng.normal(0, 0.1, (3, 3, 1, 4)).astype(np.float32),
                   "bias": np.zeros(4, np.float32)},
        "Dense_0": {"kernel": rng.normal(0, 0.1, (36, 10)).astype(np.float32),
                    "bias": rng.normal(0, 0.01, 10).astype(np.float32)},
        "LayerNorm_0": {"scale": np.ones(10, np.float32), "bias": np.zeros(10, np.float32)},
    }}


def flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for k, v in tree.items():
        key = f"{prefix}/{k}" if prefix else k
        out.update(flatten(v, key) if isinstance(v, dict) else {key: v})
    return out


@pytest.fixture
def strict() -> Config:
    return Config(strict=True, progress=False)


@pytest.fixture(autouse=True, scope="session")
def _private_compile_cache(tmp_path_factory):
    # CLI runs keep compiled kernels on disk; tests must not write to the user's ~/.cache.
    os.environ["REPORTGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax-cache"))


@pytest.fixture(autouse=True)
def _quiet_jax(monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", os.environ.get("JAX_PLATFORMS", "cpu"))
