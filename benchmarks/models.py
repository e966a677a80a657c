"""Benchmark models, generated (never downloaded): random weights with real models' shapes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

WORK = Path(__file__).resolve().parent / "work"


def bert_mini_shapes(layers: int = 6, hidden: int = 384, intermediate: int = 1536,
                     vocab: int = 30522) -> dict[str, tuple[int, ...]]:
    """PyTorch (HF BERT) names and (out, in) layouts; about 22M parameters."""
    s: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (vocab, hidden),
        "embeddings.position_embeddings.weight": (512, hidden),
        "embeddings.token_type_embeddings.weight": (2, hidden),
        "embeddings.LayerNorm.weight": (hidden,), "embeddings.LayerNorm.bias": (hidden,)}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            s[p + name + ".weight"], s[p + name + ".bias"] = (hidden, hidden), (hidden,)
        s[p + "attention.output.LayerNorm.weight"] = s[p + "attention.output.LayerNorm.bias"] = (hidden,)
        s[p + "intermediate.dense.weight"], s[p + "intermediate.dense.bias"] = (intermediate, hidden), (intermediate,)
        s[p + "output.dense.weight"], s[p + "output.dense.bias"] = (hidden, intermediate), (hidden,)
        s[p + "output.LayerNorm.weight"] = s[p + "output.LayerNorm.bias"] = (hidden,)
    return s


def random_weights(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        scale = 0.02 if len(shape) > 1 else 0.01
        out[name] = (rng.standard_normal(shape, dtype=np.float32) * scale
                     + (1.0 if name.endswith("LayerNorm.weight") else 0.0))
    return out


def write_safetensors(name: str, arrays: dict[str, np.ndarray]) -> Path:
    from safetensors.numpy import save_file

    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{name}.safetensors"
    if not path.exists():
        save_file(arrays, str(path))
    return path
