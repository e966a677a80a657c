"""Benchmark models, generated (never downloaded): random weights with real models' shapes."""
from __future__ import annotations

import json
import re
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


def gpt2_small_shapes(layers: int = 12, hidden: int = 768, vocab: int = 50257,
                      positions: int = 1024) -> dict[str, tuple[int, ...]]:
    """Hugging Face GPT-2 names; its Conv1D kernels are stored (in, out); about 124M parameters."""
    s: dict[str, tuple[int, ...]] = {"wte.weight": (vocab, hidden), "wpe.weight": (positions, hidden)}
    for i in range(layers):
        p = f"h.{i}."
        s[p + "ln_1.weight"] = s[p + "ln_1.bias"] = (hidden,)
        s[p + "attn.c_attn.weight"], s[p + "attn.c_attn.bias"] = (hidden, 3 * hidden), (3 * hidden,)
        s[p + "attn.c_proj.weight"], s[p + "attn.c_proj.bias"] = (hidden, hidden), (hidden,)
        s[p + "ln_2.weight"] = s[p + "ln_2.bias"] = (hidden,)
        s[p + "mlp.c_fc.weight"], s[p + "mlp.c_fc.bias"] = (hidden, 4 * hidden), (4 * hidden,)
        s[p + "mlp.c_proj.weight"], s[p + "mlp.c_proj.bias"] = (4 * hidden, hidden), (hidden,)
    s["ln_f.weight"] = s["ln_f.bias"] = (hidden,)
    return s


def random_weights(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        scale = 0.02 if len(shape) > 1 else 0.01
        out[name] = (rng.standard_normal(shape, dtype=np.float32) * scale
                     + (1.0 if re.search(r"(LayerNorm|ln_\w+|norm)\.weight$", name) else 0.0))
    return out


def write_safetensors(name: str, arrays: dict[str, np.ndarray]) -> Path:
    from safetensors.numpy import save_file

    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{name}.safetensors"
    if not path.exists():
        save_file(arrays, str(path))
    return path


def llama_1b_shapes(layers: int = 18, hidden: int = 2048, intermediate: int = 5632,
                    vocab: int = 32000) -> dict[str, tuple[int, ...]]:
    """Llama-style names, PyTorch (out, in) kernels; about 1.06B parameters (4.2 GB in float32)."""
    s: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        s[p + "input_layernorm.weight"] = (hidden,)
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            s[p + f"self_attn.{name}.weight"] = (hidden, hidden)
        s[p + "post_attention_layernorm.weight"] = (hidden,)
        s[p + "mlp.gate_proj.weight"] = s[p + "mlp.up_proj.weight"] = (intermediate, hidden)
        s[p + "mlp.down_proj.weight"] = (hidden, intermediate)
    s["model.norm.weight"] = (hidden,)
    s["lm_head.weight"] = (vocab, hidden)
    return s


def write_sharded(name: str, shapes: dict[str, tuple[int, ...]], shard_bytes: float = 1e9) -> Path:
    """A sharded safetensors set with its index, generated one shard at a time (bounded memory);
    each tensor from its own seed, so the set is the same whichever shard size is used."""
    from safetensors.numpy import save_file

    root = WORK / name
    index = root / "model.safetensors.index.json"
    if index.exists():
        return index
    root.mkdir(parents=True, exist_ok=True)
    groups: list[list[str]] = [[]]
    size = 0
    for tensor, shape in shapes.items():
        nbytes = 4 * int(np.prod(shape))
        if groups[-1] and size + nbytes > shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append(tensor)
        size += nbytes
    weight_map = {}
    for k, group in enumerate(groups, 1):
        shard = f"model-{k:05d}-of-{len(groups):05d}.safetensors"
        arrays = {t: random_weights({t: shapes[t]}, seed=list(shapes).index(t))[t] for t in group}
        save_file(arrays, str(root / shard))
        del arrays
        weight_map.update({t: shard for t in group})
    total = sum(4 * int(np.prod(s)) for s in shapes.values())
    index.write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    return index
