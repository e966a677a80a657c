"""The circuits phase (expanded weights, top-activating examples, NMF, activation maximisation)
on the digits CNN, a CIFAR-shaped CNN and a 64x64 ResNet-style CNN (random weights).

Per model, in one process: the first run (tracing and XLA compilation included), then three
more runs of the same spec (compiled kernels reused) whose median is "warm"; both with the
default 128 activation-maximisation steps and with none, so that its share shows (the ResNet-style
model: defaults only, one warm run).

Run: python benchmarks/bench_circuits.py   -> benchmarks/results/circuits.json
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_models" / "digits_cnn"))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import reportgen  # noqa: E402
from record import save  # noqa: E402
from reportgen.analysis.circuits_phase import circuits_phase  # noqa: E402
from reportgen.config import Config  # noqa: E402
from reportgen.progress import Progress  # noqa: E402
from reportgen.types import ModelSpec  # noqa: E402



def cifar_shaped() -> ModelSpec:
    """Three conv + max-pool blocks (32, 64, 128 channels), a 256-unit hidden layer, 10 outputs;
    1,024 uniform random 32x32x3 inputs."""
    import flax.linen as nn

    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            for c in (32, 64, 128):
                x = nn.max_pool(nn.relu(nn.Conv(c, (3, 3))(x)), (2, 2), (2, 2))
            return nn.Dense(10)(nn.relu(nn.Dense(256)(x.reshape(x.shape[0], -1))))

    model = CNN()
    x = np.random.default_rng(0).uniform(size=(1024, 32, 32, 3)).astype(np.float32)
    params = model.init(jax.random.key(0), x[:1])["params"]
    return ModelSpec(apply_fn=lambda p, v: model.apply({"params": p}, v), params=params, inputs=x,
                     input_kind="image", name="cifar_shaped")


def resnet_shaped() -> ModelSpec:
    """A 64x64x3 ResNet-style CNN: a stem and four residual blocks (32-128 channels, 1x1
    shortcut convs where the width changes), global average pool, 128 hidden, 10 outputs; 512
    uniform random inputs. Its activation maximisation would cost ~5,300 GFLOP per layer (400 s
    here), so the default budget leaves it out: this row shows what the rest costs."""
    import flax.linen as nn

    class Res(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(32, (3, 3))(x))
            for c in (32, 64, 64, 128):
                y = nn.Conv(c, (3, 3))(nn.relu(nn.Conv(c, (3, 3))(x)))
                x = nn.relu(y + (x if x.shape[-1] == c else nn.Conv(c, (1, 1))(x)))
                if c != 32:
                    x = nn.max_pool(x, (2, 2), (2, 2))
            return nn.Dense(10)(nn.relu(nn.Dense(128)(x.mean(axis=(1, 2)))))

    model = Res()
    x = np.random.default_rng(0).uniform(size=(512, 64, 64, 3)).astype(np.float32)
    params = model.init(jax.random.key(0), x[:1])["params"]
    return ModelSpec(apply_fn=lambda p, v: model.apply({"params": p}, v), params=params, inputs=x,
                     input_kind="image", name="resnet_shaped")


def _time(spec: ModelSpec, config: Config, repeats: int) -> dict:
    quiet = Progress(enabled=False)
    start = time.perf_counter()
    found = circuits_phase(spec, config, quiet, ())
    first = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        circuits_phase(spec, config, quiet, ())
        warm.append(time.perf_counter() - start)
    return {"first_s": round(first, 3), "warm_median_s": round(statistics.median(warm), 3),
            "warm_s": [round(t, 3) for t in warm], "pairs": len(found.expanded),
            "explained": [round(f.explained, 4) for f in found.factors],
            "actmax_layers": [a.layer for a in found.actmax], "notes": list(found.notes)}


def main(repeats: int = 3) -> dict:
    import model as digits

    runs = {}
    for name, spec in (("digits_cnn", digits.spec()), ("cifar_shaped", cifar_shaped())):
        runs[name] = {"inputs": len(spec.inputs),
                      "actmax_128": _time(spec, Config(), repeats),
                      "no_actmax": _time(spec, Config(circuits_actmax_steps=0), repeats)}
    spec = resnet_shaped()
    runs["resnet_shaped"] = {"inputs": len(spec.inputs), "actmax_128": _time(spec, Config(), 1)}
    result = {
        "what": "circuits phase wall time (seconds), first run in the process and the median of warm runs",
        "reportgen_version": reportgen.__version__, "runs": runs,
    }
    return save("circuits", result)


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
